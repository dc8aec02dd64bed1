// libFuzzer, structure-aware: the input is a program of client and peer actions, not bytes on
// the wire. Requests are built from the attributes the input chooses and signed with
// MESSAGE-INTEGRITY or -SHA256 under the nonce the server issued to that client (fetched with
// an unsigned request first when the client has none), so mutation explores authenticated
// Allocate, Refresh, CreatePermission, ChannelBind, Send, RFC 6062 Connect and
// ConnectionBind, EVEN-PORT and RESERVATION-TOKEN, dual allocations, ICMP, smoothing and
// cover, expiry and reloads, beyond the 401 path that raw bytes rarely pass. What the server
// answers feeds the next requests: relayed addresses become peers, reservation tokens and
// connection ids are used again. turn_server.cpp keeps fuzzing the raw bytes.
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "../support/stun_messages.hpp"
#include "fakes.hpp"
#include "hush/auth/rest_credential.hpp"
#include "hush/auth/user_table.hpp"
#include "hush/stun/integrity.hpp"
#include "hush/turn/server.hpp"

using namespace hush;
using namespace hush::fuzz;
namespace attr = stun::attr;
using stun::Method;

namespace {

// Reads the program; past its end every read is 0.
class Reader {
 public:
  Reader(const std::uint8_t* d, std::size_t n) : d_(d), n_(n) {}
  bool done() const { return pos_ >= n_; }
  std::uint8_t u8() { return pos_ < n_ ? d_[pos_++] : 0; }
  std::uint16_t u16() { return static_cast<std::uint16_t>(u8() << 8 | u8()); }
  std::uint32_t u32() { return std::uint32_t{u16()} << 16 | u16(); }
  Bytes bytes(std::size_t max) {
    const std::size_t len = std::min<std::size_t>(u8() % (max + 1), n_ - std::min(pos_, n_));
    Bytes b{reinterpret_cast<const std::byte*>(d_ + pos_), len};
    pos_ += len;
    return b;
  }

 private:
  const std::uint8_t* d_;
  std::size_t n_;
  std::size_t pos_ = 0;
};

struct Client {
  Endpoint address;
  std::uint16_t listener;
  std::string nonce, realm;
};

constexpr const char* kSecret = "fuzz-secret";

class Session {
 public:
  // Config bit 0x40: an outbox of two transmits, emptied only every fourth step, as a worker's
  // is when a batch fills it: every path that sends meets a full one.
  explicit Session(std::uint8_t config) : small_outbox_(config & 0x40), out_(small_outbox_ ? 2 : 64, 64 * 1024) {
    policy::PeerPolicyConfig pc;
    pc.relayed_addresses = {*IpAddress::parse("198.51.100.1"), *IpAddress::parse("2001:db8::1")};
    pc.host_addresses = {*IpAddress::parse("203.0.113.1")};
    pc.service_ports = {3478};
    pc.relay_port_min = 40000;
    pc.relay_port_max = 60000;
    if (config & 0x01) pc.allow.push_back(*policy::Cidr::parse("127.0.0.0/8"));
    policy_ = pc;
    options_.relay_v6 = true;
    options_.block = policy::BlockLimits{5, 60'000'000'000, 30'000'000'000, 64};  // a small table: evictions too
    options_.max_permissions = 4;
    options_.max_channels = 4;
    if (config & 0x02) {
      options_.smoothing = std::chrono::milliseconds(20);
      options_.cover = true;
    }
    if (config & 0x04) options_.external_ip_v4 = *IpAddress::parse("192.0.2.200");
    if (config & 0x08) options_.bandwidth_cap = 2000;
    if (config & 0x10) options_.alternate_servers = {*Endpoint::parse("192.0.2.50:3478")};
    if (config & 0x80) options_.relay_v6 = false;      // the second family of a dual request fails
    // Small quotas, so that over_total, over_user and over_source are reached too.
    server_ = std::make_unique<turn::Server>(options_, snapshot(kSecret), ports_, &live_, &quotas_);
    server_->set_tcp_host(&tcp_);
    if (!(config & 0x20)) server_->set_kernel_path(&kernel_, {*Endpoint::parse("203.0.113.1:3478")});
  }

  void run(Reader& in) {
    int steps = 0;
    while (!in.done() && ++steps < 512) {
      if (!small_outbox_ || steps % 4 == 0) out_.clear();
      step(in);
      learn();
      server_->commit_kernel(now_.mono);
    }
  }

 private:
  std::shared_ptr<const turn::Snapshot> snapshot(const std::string& secret) {
    auto nonces = std::make_shared<const auth::NonceIssuer>(auth::NonceIssuer(std::array<std::uint8_t, 32>{}, 600));
    return std::make_shared<const turn::Snapshot>(turn::Snapshot{
        auth::Authenticator("hush", auth::SecretSet({secret, "older-secret"}), nonces, static_users()),
        policy::PeerPolicy(policy_, &live_)});
  }

  // --users-file: carol with her password (MD5 and SHA-256 keys), dave with an MD5 key only.
  // Parsed once; every snapshot (one per input, more on reloads) takes a copy.
  static const auth::UserTable& static_users() {
    static const auth::UserTable table = [] {
      const auto key = stun::long_term_key("dave", "hush", "dave-password");
      static const char* hex = "0123456789abcdef";
      std::string text = "carol:carol-password\ndave:0x";
      for (auto b : key) text += {hex[std::to_integer<unsigned>(b) >> 4], hex[std::to_integer<unsigned>(b) & 15]};
      auto parsed = auth::UserTable::parse(text + "\n", "hush", "fuzz");
      if (!parsed) __builtin_trap();
      return std::move(*parsed);
    }();
    return table;
  }

  Endpoint peer(Reader& in) {
    static const char* fixed[] = {"8.8.8.8",      "9.9.9.9",     "2a00:1450::1", "127.0.0.1",   "10.0.0.1",
                                  "::1",          "0.0.0.0",     "::ffff:127.0.0.1", "198.51.100.1", "2001:db8::1",
                                  "192.0.2.200",  "203.0.113.1", "64:ff9b::8.8.8.8", "::ffff:0:127.0.0.1", "169.254.169.254",
                                  "2002:808:808::1", "2002:7f00:1::1", "2001:0:808:808::f7f7:f7f7", "2001:0:a00:1::1"};
    const std::uint8_t pick = in.u8();
    Endpoint ep;
    if (pick & 0x80 && !relayed_.empty()) {
      ep = relayed_[pick % relayed_.size()];
    } else {
      ep.ip = *IpAddress::parse(fixed[pick % std::size(fixed)]);
      ep.port = 7000;
    }
    switch (in.u8() % 5) {
      case 0: break;                       // as chosen
      case 1: ep.port = 0; break;          // permissions ignore the port
      case 2: ep.port = 3478; break;       // a service port
      case 3: ep.port = 40000 + in.u16() % 20001; break;  // the relay range
      default: ep.port = in.u16();
    }
    return ep;
  }

  std::string username(Reader& in) const {
    const std::uint8_t pick = in.u8();
    if (pick >= 0xfe) return pick == 0xfe ? "carol" : "dave";  // static users
    switch (pick % 4) {
      case 0: return std::to_string(now_.unix + 600) + ":alice";
      case 1: return std::to_string(now_.unix + 600) + ":bob";
      case 2: return std::to_string(now_.unix - 10) + ":expired";
      default: return "no-expiry";
    }
  }

  void add_attributes(stun::MessageBuilder& b, Reader& in) {
    const std::uint8_t mask = in.u8(), more = in.u8();
    if (mask & 0x01) {
      const std::uint32_t protocol = (more & 0x01) ? ((more & 0x04) && (more & 0x02) ? 99u : 6u) : 17u;  // 99: no such
      b.add_u32(attr::requested_transport, protocol << 24);
    }
    if (mask & 0x02) {
      static const std::uint32_t lifetimes[] = {0, 30, 600, 3600, 100000};
      const std::uint8_t l = in.u8();
      b.add_u32(attr::lifetime, l < 200 ? lifetimes[l % 5] : in.u32());
    }
    if (mask & 0x04) b.add_u32(attr::requested_address_family, std::uint32_t{(more & 0x02) ? 2u : (more & 0x04) ? 3u : 1u} << 24);
    if (mask & 0x08) b.add_u32(attr::additional_address_family, std::uint32_t{(more & 0x08) ? 1u : 2u} << 24);
    if (mask & 0x10) {
      const std::byte r[4] = {std::byte{(more & 0x10) ? std::uint8_t{0x80} : std::uint8_t{0}}};
      b.add(attr::even_port, Bytes{r, 1});
    }
    if (mask & 0x20) {
      std::byte token[8];
      if (!tokens_.empty() && !(more & 0x20)) std::memcpy(token, tokens_[in.u8() % tokens_.size()].data(), 8);
      else for (auto& t : token) t = std::byte{in.u8()};
      b.add(attr::reservation_token, Bytes{token, 8});
    }
    if (mask & 0x40) {
      const int n = 1 + in.u8() % 3;
      for (int i = 0; i < n; ++i) b.add_xor_address(attr::xor_peer_address, peer(in));
    }
    if (mask & 0x80) {
      const std::uint16_t number = (more & 0x40) ? in.u16() : static_cast<std::uint16_t>(0x4000 + in.u8() % 8);
      b.add_u32(attr::channel_number, std::uint32_t{number} << 16);
    }
    if (more & 0x80) b.add(attr::dont_fragment, {});
    const std::uint8_t extra = in.u8();
    if (extra & 0x01) {
      const std::uint32_t id = !connection_ids_.empty() && !(extra & 0x02) ? connection_ids_[in.u8() % connection_ids_.size()]
                                                                          : in.u32();
      b.add_u32(attr::connection_id, id);
    }
    if (extra & 0x04) b.add(attr::data, in.bytes(64));
    if (extra & 0x08) b.add(in.u16(), in.bytes(16));  // anything, comprehension-required or not
  }

  // A request (or a Send indication) from client `c`, signed when the input says so.
  void request(Client& c, Method m, bool indication, Reader& in) {
    const std::uint8_t how = in.u8();
    const bool sign = !(how & 0x01), sha256 = how & 0x02, wrong_password = (how & 0x1c) == 0x1c, fingerprint = how & 0x20;
    const std::string user = username(in);
    auto tid = stun::TransactionId{};
    for (auto& b : tid) b = std::byte{in.u8()};
    if (how & 0x40) last_tid_ = tid;  // a retransmission of the last one, after this
    if (sign && c.nonce.empty() && !indication) {  // the 401 round a real client makes first
      deliver(c, test::build(m, stun::Class::request, tid, [](stun::MessageBuilder&) {}));
      learn();
      out_.clear();
    }
    std::vector<std::byte> buf(4096);
    stun::MessageBuilder b(buf, m, indication ? stun::Class::indication : stun::Class::request,
                           (how & 0x80) ? last_tid_.data() : tid.data());
    add_attributes(b, in);
    if (sign && !indication) {
      b.add_text(attr::username, user);
      b.add_text(attr::realm, c.realm.empty() ? "hush" : c.realm);
      b.add_text(attr::nonce, c.nonce);
      const std::string password = wrong_password       ? "guess"
                                   : user == "carol"    ? "carol-password"
                                   : user == "dave"     ? "dave-password"
                                                        : auth::rest_password(kSecret, user);
      const std::string& realm = c.realm.empty() ? std::string("hush") : c.realm;
      if (sha256 && (how & 0x04)) {
        // RFC 8489 §14.12: PASSWORD-ALGORITHM SHA-256, the key a SHA-256 of user:realm:password.
        const std::byte algorithm[4] = {std::byte{0}, std::byte{2}, std::byte{0}, std::byte{0}};
        b.add(attr::password_algorithm, Bytes{algorithm, 4});
        b.add_integrity_sha256(stun::long_term_key_sha256(user, realm, password));
      } else {
        auto key = stun::long_term_key(user, realm, password);
        if (sha256) b.add_integrity_sha256(key);
        else b.add_integrity(key);
      }
    }
    if (fingerprint) b.add_fingerprint();
    auto msg = b.finish();
    if (!msg) return;
    buf.resize(msg->size());
    deliver(c, buf);
  }

  void deliver(const Client& c, const std::vector<std::byte>& bytes) {
    server_->on_client_datagram(now_, c.listener, c.address, Bytes{bytes.data(), bytes.size()}, out_);
  }

  void step(Reader& in) {
    const std::uint8_t op = in.u8();
    Client& c = clients_[(op >> 4) % std::size(clients_)];
    switch (op % 16) {
      case 0: case 1: case 2: return request(c, Method::allocate, false, in);
      case 3: return request(c, Method::refresh, false, in);
      case 4: case 5: return request(c, Method::create_permission, false, in);
      case 6: return request(c, Method::channel_bind, false, in);
      case 7: return request(c, Method::connect, false, in);
      case 8: return request(c, Method::connection_bind, false, in);
      case 9: return request(c, Method::send, true, in);
      case 10: {  // ChannelData
        const std::uint16_t number = static_cast<std::uint16_t>(0x4000 + in.u8() % 8);
        auto payload = in.bytes(200);
        std::vector<std::byte> d(4 + payload.size() + 3);
        store_u16(d.data(), number);
        store_u16(d.data() + 2, static_cast<std::uint16_t>(payload.size()));
        std::memcpy(d.data() + 4, payload.data(), payload.size());
        d.resize(4 + ((payload.size() + 3) & ~std::size_t{3}));
        return deliver(c, d);
      }
      case 11: {  // a peer's datagram to a relayed socket, from a peer the input picks
        if (ports_.open_sockets.empty()) return;
        auto it = ports_.open_sockets.begin();
        std::advance(it, in.u8() % ports_.open_sockets.size());
        const Endpoint from = peer(in);
        auto payload = in.bytes(200);
        std::memcpy(peer_buf_.data() + turn::kPeerHeadroom, payload.data(), payload.size());
        server_->on_peer_datagram(now_, it->first, from, peer_buf_.data() + turn::kPeerHeadroom, payload.size(), out_);
        return;
      }
      case 12: {  // ICMP about a datagram to a peer
        if (ports_.open_sockets.empty()) return;
        const std::uint8_t t = in.u8();
        server_->on_peer_icmp(now_, ports_.open_sockets.begin()->first,
                              turn::Server::IcmpReport{peer(in), (t & 0x80) != 0, static_cast<std::uint8_t>(t & 0x7f),
                                                       in.u8(), in.u16()},
                              out_);
        return;
      }
      case 13: {  // RFC 6062 events
        const std::uint8_t e = in.u8();
        if ((e & 1) && !tcp_.connecting.empty()) {
          const std::uint32_t id = tcp_.connecting.back();
          tcp_.connecting.pop_back();
          server_->on_tcp_connected(now_, id, (e & 2) != 0, out_);
        }
        if ((e & 4) && !tcp_.listeners.empty()) {
          const std::uint32_t id = tcp_.next++;
          tcp_.connections[id] = false;
          if (server_->on_tcp_peer(now_, tcp_.listeners.begin()->first, peer(in), id, out_)) connection_ids_.push_back(id);
          else tcp_.close_connection(id);
        }
        if (e & 8) server_->on_stream_closed(turn::FiveTuple{c.listener, c.address});
        return;
      }
      case 14: {  // time: a tick, a few seconds, or past a lifetime
        static const int seconds[] = {0, 1, 5, 31, 61, 301, 601, 3601};
        const std::uint8_t t = in.u8();
        now_.mono += std::chrono::milliseconds(t < 128 ? 20 * (t % 8) : 1000 * seconds[t % 8]);
        now_.unix += t < 128 ? 0 : seconds[t % 8];
        server_->on_timer(now_);
        // As the worker does: what release_due() queued points into the allocations'
        // smoothing queues and is sent at once, before anything else can change them.
        if (server_->next_release()) while (server_->release_due(now_, out_)) out_.clear();
        out_.clear();
        return;
      }
      default: {  // operations: reload, drain
        const std::uint8_t r = in.u8();
        if (r & 1) server_->set_snapshot(snapshot((r & 2) ? kSecret : "rotated"));
        if (r & 4) server_->set_draining((r & 8) != 0);
        if (r & 64) quotas_.set_limits(turn::QuotaLimits{r & 128 ? 0u : 4u, 3, 1});
        if (r & 128) (void)server_->gauges(now_.mono);  // what a metrics scrape reads
        if (r & 16) {
          turn::ServerOptions o = options_;
          o.max_permissions = 1 + r % 4;
          o.block.strikes = (r & 32) ? 0 : 5;
          server_->set_options(o);
        }
        return;
      }
    }
  }

  // What the server said to the clients: nonces, relayed addresses, tokens, connection ids.
  void learn() {
    for (const auto& t : out_.transmits()) {
      if (t.size > 0 && t.data == nullptr) __builtin_trap();
      if (t.via != turn::Transmit::Via::listener) continue;
      auto m = stun::MessageView::parse(Bytes{t.data, t.size});
      if (!m) continue;
      for (auto& c : clients_) {
        if (c.address != t.to) continue;
        if (auto n = m->find_text(attr::nonce)) c.nonce = std::string(*n);
        if (auto r = m->find_text(attr::realm)) c.realm = std::string(*r);
      }
      for (const auto& a : m->attributes()) {
        if (a.type == attr::xor_relayed_address && relayed_.size() < 16)
          if (auto ep = stun::decode_xor_address(m->value(a), m->transaction_id_ptr())) relayed_.push_back(*ep);
        if (a.type == attr::reservation_token && a.length == 8 && tokens_.size() < 8) {
          std::array<std::byte, 8> token;
          std::memcpy(token.data(), m->value(a).data(), 8);
          tokens_.push_back(token);
        }
      }
      if (auto id = m->find_u32(attr::connection_id); id && connection_ids_.size() < 16) connection_ids_.push_back(*id);
    }
  }

  policy::PeerPolicyConfig policy_;
  policy::RelayPortRegistry live_;
  turn::ServerOptions options_;
  Ports ports_;
  turn::Quotas quotas_{turn::QuotaLimits{4, 3, 1}};
  TcpHost tcp_;    // outlive the server, whose destructor closes what is left
  Kernel kernel_;
  std::unique_ptr<turn::Server> server_;
  bool small_outbox_;
  turn::Outbox out_;
  turn::Now now_{turn::TimePoint{} + std::chrono::hours(1), 1'700'000'000};
  std::vector<std::byte> peer_buf_ = std::vector<std::byte>(turn::kPeerHeadroom + 300);
  Client clients_[6] = {{*Endpoint::parse("192.0.2.1:1000"), 0, {}, {}},
                        {*Endpoint::parse("[2001:db8::5]:1000"), 0, {}, {}},
                        {*Endpoint::parse("192.0.2.2:2000"), turn::kTcpListenerBase, {}, {}},
                        {*Endpoint::parse("192.0.2.3:3000"), turn::kTlsListenerBase, {}, {}},
                        {*Endpoint::parse("192.0.2.4:4000"), turn::kDtlsListenerBase, {}, {}},
                        {*Endpoint::parse("192.0.2.1:1001"), 0, {}, {}}};  // client 0's address again: per-source quota
  std::vector<Endpoint> relayed_;
  std::vector<std::array<std::byte, 8>> tokens_;
  std::vector<std::uint32_t> connection_ids_;
  stun::TransactionId last_tid_{};
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  Session s(data[0]);
  Reader in(data + 1, size - 1);
  s.run(in);
  return 0;
}
