// A turn::Server with fake relayed sockets and a fake clock: requests in, transmits out.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <optional>

#include "stun_messages.hpp"
#include "hush/turn/server.hpp"

namespace hush::test {

class FakePorts : public turn::RelayPortAllocator {
 public:
  std::size_t capacity = 1000;
  std::map<std::uint32_t, turn::RelaySocket> open_sockets;
  std::uint16_t next_port = 50000;
  std::uint32_t next_handle = 100;

  std::optional<turn::RelaySocket> open(Family f, bool even, bool) override {
    if (open_sockets.size() >= capacity) return std::nullopt;
    if (even && next_port % 2) ++next_port;
    return add(f, next_port++);
  }
  std::optional<std::pair<turn::RelaySocket, turn::RelaySocket>> open_pair(Family f, bool) override {
    if (open_sockets.size() + 2 > capacity) return std::nullopt;
    if (next_port % 2) ++next_port;
    auto a = add(f, next_port++);
    auto b = add(f, next_port++);
    return std::make_pair(a, b);
  }
  bool refuse_adopt = false;  // as a worker that cannot watch one more socket
  bool adopt(const turn::RelaySocket& s) override {
    if (refuse_adopt) {
      open_sockets.erase(s.handle);  // closed, as RelayPorts does
      return false;
    }
    open_sockets[s.handle] = s;
    return true;
  }
  void close(std::uint32_t h) override { open_sockets.erase(h); }
  void discard(const turn::RelaySocket& s) override { open_sockets.erase(s.handle); }

 private:
  turn::RelaySocket add(Family f, std::uint16_t port) {
    auto ip = f == Family::v4 ? *IpAddress::parse("198.51.100.7") : *IpAddress::parse("2001:db8::7");
    turn::RelaySocket s{next_handle++, Endpoint{ip, port}};
    open_sockets[s.handle] = s;
    return s;
  }
};

struct Reply {
  std::vector<std::byte> bytes;
  turn::Transmit where;
  std::optional<stun::MessageView> msg() const {
    auto m = stun::MessageView::parse(bytes);
    if (!m) return std::nullopt;
    return *m;
  }
  int error_code() const {
    auto m = msg();
    if (!m) return -1;
    auto e = m->find(stun::attr::error_code);
    return e ? stun::decode_error_code(*e)->code : 0;
  }
};

class TurnFixture : public ::testing::Test {
 protected:
  std::string secret = "sesame";
  std::string realm = "hush";
  policy::RelayPortRegistry live;
  FakePorts ports;
  std::shared_ptr<const auth::NonceIssuer> nonces =
      std::make_shared<const auth::NonceIssuer>(auth::NonceIssuer::with_key_from_secret("fixture", 600));
  turn::ServerOptions options;
  turn::QuotaLimits limits;  // start() adds its user_quota argument
  std::unique_ptr<turn::Quotas> quota;
  std::unique_ptr<turn::Server> server;
  turn::Outbox out{256, 256 * 1024};
  turn::Now now{turn::TimePoint{} + std::chrono::hours(1), 1'700'000'000};
  Endpoint client = *Endpoint::parse("192.0.2.1:40000");
  std::uint16_t listener = 0;  // where requests arrive: UDP by default (kTlsListenerBase: TLS)
  std::string username = "1700086400:test";
  auth::UserTable users;  // static long-term users beside the REST secret
  std::vector<std::byte> peer_buffer = std::vector<std::byte>(70000);

  void start(std::size_t user_quota = 0, std::vector<const char*> allow = {}) {
    policy::PeerPolicyConfig pc;
    for (auto* a : allow) pc.allow.push_back(*policy::Cidr::parse(a));
    pc.relayed_addresses = {*IpAddress::parse("198.51.100.7"), *IpAddress::parse("2001:db8::7")};  // FakePorts's
    pc.service_ports = {3478};
    pc.relay_port_min = 49152;
    auto snap = std::make_shared<const turn::Snapshot>(turn::Snapshot{
        auth::Authenticator(realm, auth::SecretSet({secret}), nonces, users), policy::PeerPolicy(pc, &live)});
    turn::QuotaLimits l = limits;
    if (user_quota != 0) l.per_user = user_quota;
    quota = std::make_unique<turn::Quotas>(l);
    server = std::make_unique<turn::Server>(options, snap, ports, &live, quota.get());
  }
  void SetUp() override { start(); }

  void advance(std::chrono::seconds s) {
    now.mono += s;
    now.unix += s.count();
    server->on_timer(now);
    server->commit_kernel(now.mono);
  }

  LongTermAuth creds(const Endpoint& from) {
    return LongTermAuth{username, realm, nonces->issue(now.unix, from), auth::rest_password(secret, username)};
  }

  std::vector<Reply> deliver(Bytes datagram, const Endpoint& from) {
    out.clear();
    server->on_client_datagram(now, listener, from, datagram, out);
    server->commit_kernel(now.mono);  // as the worker does once it has sent `out`
    return collect();
  }
  std::vector<Reply> deliver(Bytes datagram) { return deliver(datagram, client); }

  std::vector<Reply> from_peer(std::uint32_t handle, const Endpoint& peer, std::string_view payload) {
    out.clear();
    std::byte* p = peer_buffer.data() + turn::kPeerHeadroom;
    std::memcpy(p, payload.data(), payload.size());
    server->on_peer_datagram(now, handle, peer, p, payload.size(), out);
    return collect();
  }

  std::vector<Reply> icmp(std::uint32_t handle, const turn::Server::IcmpReport& report) {
    out.clear();
    server->on_peer_icmp(now, handle, report, out);
    return collect();
  }

  std::vector<Reply> collect() {
    std::vector<Reply> r;
    for (const auto& t : out.transmits()) r.push_back(Reply{std::vector<std::byte>(t.data, t.data + t.size), t});
    return r;
  }

  Reply request(stun::Method m, const std::function<void(stun::MessageBuilder&)>& attrs, const Endpoint& from,
                bool authenticated = true, stun::TransactionId tid = random_tid()) {
    auto a = creds(from);
    auto bytes = build(m, stun::Class::request, tid, attrs, authenticated ? &a : nullptr);
    auto replies = deliver(bytes, from);
    EXPECT_EQ(replies.size(), 1u);
    return replies.empty() ? Reply{} : replies.front();
  }
  Reply request(stun::Method m, const std::function<void(stun::MessageBuilder&)>& attrs = {}) {
    return request(m, attrs, client);
  }

  // Allocates for `from` and returns the relayed socket handle.
  std::uint32_t allocate(const Endpoint& from) {
    auto r = request(stun::Method::allocate, udp_transport(), from);
    EXPECT_EQ(r.error_code(), 0);
    const auto* a = server->find(turn::FiveTuple{listener, from});
    EXPECT_NE(a, nullptr);
    return a ? a->relay_v4->handle : 0;
  }
  std::uint32_t allocate() { return allocate(client); }

  static std::function<void(stun::MessageBuilder&)> peer(const char* ep) {
    return [ep](stun::MessageBuilder& b) { b.add_xor_address(stun::attr::xor_peer_address, *Endpoint::parse(ep)); };
  }
  static std::function<void(stun::MessageBuilder&)> channel(std::uint16_t number, const char* ep) {
    return [=](stun::MessageBuilder& b) {
      b.add_u32(stun::attr::channel_number, std::uint32_t{number} << 16);
      b.add_xor_address(stun::attr::xor_peer_address, *Endpoint::parse(ep));
    };
  }
};

}  // namespace hush::test
