// hush-streamgen: hush-loadgen's load over TURN's other client transports: TCP, TLS 1.3 (or
// 1.2) and DTLS 1.2 (RFC 8656 §3.1, RFC 7350). Each client is one connection with a real handshake
// (timed), an allocation (REST credentials) and a channel, or a permission for Send
// indications, to the echo peers this tool runs; probes carry their send time, so the round
// trip client -> relay -> peer -> relay -> client is measured. One thread drives every
// connection with epoll; streams are framed as RFC 8656 §12.5 says (ChannelData padded to
// four bytes), DTLS sends one message per record.
//
//   hush-streamgen --transport tls --server 127.0.0.1:5349 --secret S --allocations 100 --rate 50 --duration 10
//   hush-streamgen --transport tls ... --storm-threads 2     (and a storm of new handshakes meanwhile)
//
// The storm: threads that open connections, complete a full handshake (no session
// resumption), and close them, as fast as they can for the whole run; reports handshakes per
// second and their duration, while the calls' loss and round trip show whether established
// calls still get their share of the server.
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "echo_peers.hpp"
#include "histogram.hpp"
#include "hush/auth/rest_credential.hpp"
#include "hush/auth/secret_set.hpp"
#include "hush/base/bytes.hpp"
#include "hush/net/udp_socket.hpp"
#include "hush/stun/builder.hpp"
#include "hush/stun/channel_data.hpp"
#include "hush/stun/integrity.hpp"
#include "hush/stun/message.hpp"
#include "measure.hpp"
#include "probe.hpp"

using namespace hush;
using namespace hush::loadtest;

namespace {

constexpr std::size_t kMaxBacklog = 256 * 1024;  // unsent bytes one stream may hold before probes are dropped

enum class Transport { tcp, tls, dtls };

struct Options {
  std::string server = "127.0.0.1:3478";
  std::string secret;
  std::string transport = "tls";
  std::string tls_version = "1.3";
  std::size_t allocations = 10;
  double rate = 50;
  std::size_t size = 100;
  double duration = 5;
  double warmup = 0;
  bool indications = false;
  std::size_t peers = 16;
  std::uint16_t peer_port = 20100;
  std::string bind = "127.0.0.1";
  int server_pid = 0;
  unsigned storm_threads = 0;
  bool resume = false;
  bool ceiling = false;
  bool json = false;
};

struct Counts {
  std::mutex mutex;
  std::map<std::string, std::uint64_t> errors;
  void add(const std::string& kind) {
    std::lock_guard lock(mutex);
    ++errors[kind];
  }
};

struct Client {
  int fd = -1;
  SSL* ssl = nullptr;
  std::size_t index = 0;
  Endpoint peer;
  std::uint16_t channel = 0x4000;
  std::string username, password, realm, nonce;
  std::vector<std::byte> in;  // received bytes not yet framed (streams)
  std::size_t in_len = 0;
  std::vector<std::byte> out;  // bytes not yet taken by the socket or TLS (streams)
  std::uint64_t seq = 0;
  bool ready = false;
};

// The length of the first message in `p` (STUN or ChannelData), 0 if incomplete, SIZE_MAX if
// it is neither.
std::size_t frame_length(const std::byte* p, std::size_t n, bool stream) {
  if (n < 4) return 0;
  const auto first = std::to_integer<std::uint8_t>(p[0]);
  std::size_t len;
  if ((first & 0xC0) == 0) {
    len = 20 + load_u16(p + 2);
  } else if ((first & 0xC0) == 0x40) {
    len = 4 + load_u16(p + 2);
    if (stream) len = (len + 3) & ~std::size_t{3};
  } else {
    return SIZE_MAX;
  }
  return n >= len ? len : 0;
}

class Generator {
 public:
  Generator(const Options& o, Transport t, const Endpoint& server, const IpAddress& bind, const Peers& peers,
            Counts& counts)
      : o_(o), t_(t), server_(server), bind_(bind), peers_(peers), counts_(counts) {
    if (t_ != Transport::tcp) {
      ctx_ = SSL_CTX_new(t_ == Transport::tls ? TLS_client_method() : DTLS_client_method());
      if (t_ == Transport::tls) {
        const int v = o_.tls_version == "1.2" ? TLS1_2_VERSION : TLS1_3_VERSION;
        SSL_CTX_set_min_proto_version(ctx_, v);
        SSL_CTX_set_max_proto_version(ctx_, v);
      } else {
        SSL_CTX_set_min_proto_version(ctx_, DTLS1_2_VERSION);
        SSL_CTX_set_max_proto_version(ctx_, DTLS1_2_VERSION);
      }
      // A benchmark client: the relay's test certificate is not checked; nor is a session kept,
      // so every handshake is a full one.
      SSL_CTX_set_verify(ctx_, SSL_VERIFY_NONE, nullptr);
      SSL_CTX_set_session_cache_mode(ctx_, SSL_SESS_CACHE_OFF);
      if (!o_.resume) SSL_CTX_set_options(ctx_, SSL_OP_NO_TICKET);
      SSL_CTX_set_mode(ctx_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    }
  }
  ~Generator() {
    for (auto& c : clients_) close(c);
    if (ctx_ != nullptr) SSL_CTX_free(ctx_);
  }

  // A connection with its handshake done, blocking, with timeouts. Adds the handshake's
  // duration (connect included) to `times`.
  bool open(Client& c, Histogram& times, SSL_SESSION* resume = nullptr) {
    const bool stream = t_ != Transport::dtls;
    c.fd = ::socket(server_.ip.is_v4() ? AF_INET : AF_INET6, stream ? SOCK_STREAM : SOCK_DGRAM, 0);
    if (c.fd < 0) return fail(c, "socket");
    const timeval timeout{2, 0};
    ::setsockopt(c.fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    ::setsockopt(c.fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    if (stream) {
      const int one = 1;
      ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    sockaddr_storage local{}, remote{};
    const socklen_t local_len = net::to_sockaddr(Endpoint{bind_, 0}, local);
    const socklen_t remote_len = net::to_sockaddr(server_, remote);
    if (::bind(c.fd, reinterpret_cast<sockaddr*>(&local), local_len) != 0) return fail(c, "bind");
    const std::int64_t t0 = now_ns();
    if (::connect(c.fd, reinterpret_cast<sockaddr*>(&remote), remote_len) != 0) return fail(c, "connect");
    if (ctx_ != nullptr) {
      c.ssl = SSL_new(ctx_);
      if (t_ == Transport::dtls) {
        BIO* bio = BIO_new_dgram(c.fd, BIO_NOCLOSE);
        BIO_ctrl_set_connected(bio, &remote);
        SSL_set_bio(c.ssl, bio, bio);
      } else {
        SSL_set_fd(c.ssl, c.fd);
      }
      if (resume != nullptr) SSL_set_session(c.ssl, resume);
      if (SSL_connect(c.ssl) != 1) {
        ERR_clear_error();
        return fail(c, "handshake");
      }
    }
    times.record(static_cast<std::uint64_t>(now_ns() - t0));
    return true;
  }

  void close(Client& c) {
    if (c.ssl != nullptr) {
      // close_notify, as a client that hangs up sends it: a DTLS server learns of the end no other way.
      if (SSL_is_init_finished(c.ssl)) SSL_shutdown(c.ssl);
      ERR_clear_error();
      SSL_free(c.ssl);
    }
    if (c.fd >= 0) ::close(c.fd);
    c.ssl = nullptr;
    c.fd = -1;
  }

  // Every client: connection, Allocate (with the 401 round), then ChannelBind or
  // CreatePermission. Returns how many are ready.
  std::size_t set_up() {
    clients_.resize(o_.allocations);
    std::size_t ready = 0;
    for (std::size_t i = 0; i < clients_.size(); ++i) {
      Client& c = clients_[i];
      c.index = i;
      c.peer = peers_.endpoint(i);
      c.username = std::to_string(std::time(nullptr) + 3600 + static_cast<std::int64_t>(o_.duration)) +
                   ":streamgen" + std::to_string(i);
      c.password = auth::rest_password(o_.secret, c.username);
      if (!open(c, handshakes)) continue;
      if (o_.ceiling) {  // hush-stream-ceiling: no TURN, the channel names the peer
        c.channel = static_cast<std::uint16_t>(0x4000 + i % o_.peers);
        c.ready = true;
        ++ready;
        continue;
      }
      int code = 0;
      if (!transact(c, stun::Method::allocate, [](stun::MessageBuilder& b) {
            b.add_u32(stun::attr::requested_transport, std::uint32_t{17} << 24);
          }, code) || code != 0) {
        counts_.add("allocate " + std::to_string(code));
        close(c);
        continue;
      }
      const bool ok = transact(c, o_.indications ? stun::Method::create_permission : stun::Method::channel_bind,
                               [&](stun::MessageBuilder& b) {
                                 if (!o_.indications) b.add_u32(stun::attr::channel_number, std::uint32_t{c.channel} << 16);
                                 b.add_xor_address(stun::attr::xor_peer_address, c.peer);
                               }, code);
      if (!ok || code != 0) {
        counts_.add((o_.indications ? "create-permission " : "channel-bind ") + std::to_string(code));
        close(c);
        continue;
      }
      c.ready = true;
      ++ready;
    }
    return ready;
  }

  void run(std::int64_t start_ns, std::int64_t measured_ns, std::int64_t end_ns) {
    measured_ns_ = measured_ns;
    const int ep = ::epoll_create1(0);
    std::vector<std::size_t> live;
    for (auto& c : clients_) {
      if (!c.ready) continue;
      live.push_back(c.index);
      ::fcntl(c.fd, F_SETFL, ::fcntl(c.fd, F_GETFL) | O_NONBLOCK);
      epoll_event ev{EPOLLIN, {.u64 = c.index}};
      ::epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev);
    }
    const double interval_ns = 1e9 / (o_.rate * static_cast<double>(std::max<std::size_t>(clients_.size(), 1)));
    std::uint64_t due_total = 0;
    std::size_t next = 0;
    std::vector<std::byte> frame(o_.size + 128);
    epoll_event events[256];
    while (now_ns() < start_ns) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    while (true) {
      const std::int64_t t = now_ns();
      if (t >= end_ns + 1'000'000'000) break;  // a second to drain after the last send
      if (t < end_ns && !live.empty()) {
        const auto want = static_cast<std::uint64_t>(static_cast<double>(t - start_ns) / interval_ns);
        for (; due_total < want; ++due_total) {
          send_probe(clients_[live[next]], frame);
          next = (next + 1) % live.size();
        }
      }
      for (std::size_t i : pending_) flush(clients_[i]);
      std::erase_if(pending_, [&](std::size_t i) { return clients_[i].out.empty(); });
      const int n = ::epoll_wait(ep, events, 256, 1);
      for (int k = 0; k < n; ++k) receive(clients_[events[k].data.u64]);
    }
    ::close(ep);
  }

  Histogram handshakes;  // connect and handshake, per client
  Histogram rtt;
  std::uint64_t sent = 0, received = 0, backlog_drops = 0;

 private:
  bool fail(Client& c, const char* what) {
    counts_.add(what);
    close(c);
    return false;
  }

  // Blocking, during set-up: the whole of `d`.
  bool write_all(Client& c, const std::byte* d, std::size_t n) {
    if (c.ssl != nullptr) return SSL_write(c.ssl, d, static_cast<int>(n)) == static_cast<int>(n);
    while (n > 0) {
      const ssize_t r = ::send(c.fd, d, n, MSG_NOSIGNAL);
      if (r <= 0) return false;
      d += r;
      n -= static_cast<std::size_t>(r);
    }
    return true;
  }

  // Blocking, during set-up: the next STUN message.
  std::optional<std::vector<std::byte>> read_message(Client& c) {
    if (t_ == Transport::dtls) {
      std::vector<std::byte> rec(2048);
      const int r = SSL_read(c.ssl, rec.data(), static_cast<int>(rec.size()));
      if (r <= 0) return std::nullopt;
      rec.resize(static_cast<std::size_t>(r));
      return rec;
    }
    if (c.in.size() < 65536) c.in.resize(65536);
    while (true) {
      const std::size_t len = frame_length(c.in.data(), c.in_len, true);
      if (len == SIZE_MAX) return std::nullopt;
      if (len > 0) {
        std::vector<std::byte> m(c.in.begin(), c.in.begin() + static_cast<std::ptrdiff_t>(len));
        consume(c, len);
        return m;
      }
      const int r = c.ssl != nullptr ? SSL_read(c.ssl, c.in.data() + c.in_len, static_cast<int>(c.in.size() - c.in_len))
                                     : static_cast<int>(::recv(c.fd, c.in.data() + c.in_len, c.in.size() - c.in_len, 0));
      if (r <= 0) return std::nullopt;
      c.in_len += static_cast<std::size_t>(r);
    }
  }

  void consume(Client& c, std::size_t len) {
    std::memmove(c.in.data(), c.in.data() + len, c.in_len - len);
    c.in_len -= len;
  }

  bool transact(Client& c, stun::Method m, const std::function<void(stun::MessageBuilder&)>& attrs, int& code) {
    for (int attempt = 0; attempt < 3; ++attempt) {
      std::vector<std::byte> buf(1024);
      stun::TransactionId tid{};
      auth::random_bytes(tid.data(), tid.size());
      stun::MessageBuilder b(buf, m, stun::Class::request, tid.data());
      attrs(b);
      if (!c.nonce.empty()) {
        b.add_text(stun::attr::username, c.username).add_text(stun::attr::realm, c.realm).add_text(stun::attr::nonce, c.nonce);
        b.add_integrity(stun::long_term_key(c.username, c.realm, c.password));
      }
      auto msg = b.finish();
      if (!write_all(c, msg->data(), msg->size())) return false;
      std::vector<std::byte> answer;
      while (true) {  // skip anything that is not this transaction's answer
        auto next = read_message(c);
        if (!next) return false;
        answer = std::move(*next);
        auto parsed = stun::MessageView::parse(answer);
        if (parsed && std::memcmp(parsed->transaction_id_ptr(), tid.data(), tid.size()) == 0) break;
      }
      auto v = stun::MessageView::parse(answer);
      code = 0;
      if (auto e = v->find(stun::attr::error_code)) code = stun::decode_error_code(*e)->code;
      if ((code == 401 && c.nonce.empty()) || code == 438) {
        c.realm = std::string(v->find_text(stun::attr::realm).value_or(""));
        c.nonce = std::string(v->find_text(stun::attr::nonce).value_or(""));
        continue;
      }
      return true;
    }
    return false;
  }

  void send_probe(Client& c, std::vector<std::byte>& buf) {
    const std::size_t payload = std::max(o_.size, kProbeHeader);
    std::size_t header;
    if (o_.indications) {
      header = write_send_indication(buf.data(), c.peer, payload);
    } else {
      header = 4;
      stun::write_channel_header(buf.data(), c.channel, static_cast<std::uint16_t>(payload));
    }
    // Streams pad ChannelData to four bytes (RFC 8656 §12.5); DTLS records need not.
    const bool pad = o_.indications || t_ != Transport::dtls;
    const std::size_t total = header + (pad ? (payload + 3) & ~std::size_t{3} : payload);
    write_probe(buf.data() + header, total - header, static_cast<std::uint32_t>(c.index), c.seq++);
    ++sent;
    if (t_ == Transport::dtls) {
      if (SSL_write(c.ssl, buf.data(), static_cast<int>(total)) <= 0) {
        ERR_clear_error();
        counts_.add("send failed");
      }
      return;
    }
    if (c.out.size() + total > kMaxBacklog) {
      ++backlog_drops;
      return;
    }
    const bool was_empty = c.out.empty();
    c.out.insert(c.out.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(total));
    flush(c);
    if (was_empty && !c.out.empty()) pending_.push_back(c.index);
  }

  void flush(Client& c) {
    while (!c.out.empty()) {
      int r;
      if (c.ssl != nullptr) {
        r = SSL_write(c.ssl, c.out.data(), static_cast<int>(c.out.size()));
        if (r <= 0) {
          const int e = SSL_get_error(c.ssl, r);
          ERR_clear_error();
          if (e != SSL_ERROR_WANT_WRITE && e != SSL_ERROR_WANT_READ) counts_.add("send failed");
          return;
        }
      } else {
        r = static_cast<int>(::send(c.fd, c.out.data(), c.out.size(), MSG_DONTWAIT | MSG_NOSIGNAL));
        if (r <= 0) {
          if (errno != EAGAIN && errno != EWOULDBLOCK) counts_.add("send failed");
          return;
        }
      }
      c.out.erase(c.out.begin(), c.out.begin() + r);
    }
  }

  void receive(Client& c) {
    const std::int64_t t = now_ns();
    if (t_ == Transport::dtls) {
      std::byte rec[2048];
      int r;
      while ((r = SSL_read(c.ssl, rec, sizeof rec)) > 0) deliver({rec, static_cast<std::size_t>(r)}, t);
      ERR_clear_error();
      return;
    }
    if (c.in.size() < 65536) c.in.resize(65536);
    while (true) {
      const int r = c.ssl != nullptr
                        ? SSL_read(c.ssl, c.in.data() + c.in_len, static_cast<int>(c.in.size() - c.in_len))
                        : static_cast<int>(::recv(c.fd, c.in.data() + c.in_len, c.in.size() - c.in_len, MSG_DONTWAIT));
      if (r <= 0) {
        if (c.ssl != nullptr) ERR_clear_error();
        break;
      }
      c.in_len += static_cast<std::size_t>(r);
      std::size_t at = 0, len;
      while ((len = frame_length(c.in.data() + at, c.in_len - at, true)) != 0) {
        if (len == SIZE_MAX) {  // lost the framing: nothing more on this connection counts
          counts_.add("bad framing");
          c.in_len = at = 0;
          break;
        }
        deliver({c.in.data() + at, len}, t);
        at += len;
      }
      consume(c, at);
    }
  }

  void deliver(Bytes d, std::int64_t t) {
    const auto sent_at = probe_sent_at(d);
    if (!sent_at) return;
    if (*sent_at >= measured_ns_) rtt.record(static_cast<std::uint64_t>(std::max<std::int64_t>(t - *sent_at, 0)));
    ++received;
  }

  const Options& o_;
  Transport t_;
  Endpoint server_;
  IpAddress bind_;
  const Peers& peers_;
  Counts& counts_;
  SSL_CTX* ctx_ = nullptr;
  std::vector<Client> clients_;
  std::vector<std::size_t> pending_;  // clients with bytes waiting in `out`
  std::int64_t measured_ns_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"hush-streamgen: TURN load over TCP, TLS and DTLS, with echo peers"};
  app.add_option("--transport", o.transport, "tcp, tls (1.3) or dtls (1.2)")->capture_default_str();
  app.add_option("--server", o.server, "TURN server IP:PORT (TLS and DTLS: its TLS port)")->capture_default_str();
  app.add_option("--tls-version", o.tls_version, "TLS version: 1.3, or 1.2 (coturn 4.6.1 has no TLS 1.3)")
      ->capture_default_str();
  app.add_option("--secret", o.secret, "REST shared secret (coturn use-auth-secret)");
  app.add_option("--allocations", o.allocations, "Clients, each with its connection and allocation")->capture_default_str();
  app.add_option("--rate", o.rate, "Packets per second per allocation, each way")->capture_default_str();
  app.add_option("--size", o.size, "Payload bytes")->capture_default_str();
  app.add_option("--duration", o.duration, "Seconds of traffic")->capture_default_str();
  app.add_option("--warmup", o.warmup, "Seconds at the start whose round trips stay out of the percentiles")
      ->capture_default_str();
  app.add_flag("--indications", o.indications, "Send/Data indications instead of channels");
  app.add_option("--peers", o.peers, "Echo peer sockets")->capture_default_str();
  app.add_option("--peer-port", o.peer_port, "First echo peer port")->capture_default_str();
  app.add_option("--bind", o.bind, "The generator's address (its clients and echo peers)")->capture_default_str();
  app.add_option("--server-pid", o.server_pid, "PID of the server, to report its CPU per packet and RSS");
  app.add_option("--storm-threads", o.storm_threads,
                 "Threads that open, handshake and close new connections for the whole run (0: no storm)")
      ->capture_default_str();
  app.add_flag("--resume", o.resume,
               "Storm with session resumption: each storm thread resumes the session of its first handshake");
  app.add_flag("--ceiling", o.ceiling, "Talk to hush-stream-ceiling: no TURN set-up, channel = 0x4000 + peer index");
  app.add_flag("--json", o.json, "Print JSON instead of a table");
  CLI11_PARSE(app, argc, argv);
  auto server = Endpoint::parse(o.server);
  auto bind = IpAddress::parse(o.bind);
  Transport t;
  if (o.transport == "tcp") t = Transport::tcp;
  else if (o.transport == "tls") t = Transport::tls;
  else if (o.transport == "dtls") t = Transport::dtls;
  else {
    std::fprintf(stderr, "hush-streamgen: --transport: tcp, tls or dtls, not '%s'\n", o.transport.c_str());
    return 2;
  }
  if (!server || !bind || o.rate <= 0 || o.size > 1400 || o.warmup < 0 || o.warmup >= o.duration ||
      (!o.ceiling && o.secret.empty()) || (o.ceiling && o.indications) ||
      (o.tls_version != "1.2" && o.tls_version != "1.3")) {
    std::fprintf(stderr, "hush-streamgen: need --server IP:PORT, --bind IP, --secret (unless --ceiling, which has no "
                         "indications), --tls-version 1.2 or 1.3, --size <= 1400, 0 <= --warmup < --duration\n");
    return 2;
  }
  std::signal(SIGPIPE, SIG_IGN);  // a connection the server closed is an error to count, not an exit
  rlimit files{};
  ::getrlimit(RLIMIT_NOFILE, &files);
  files.rlim_cur = files.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &files);
  o.peers = std::max<std::size_t>(1, std::min(o.peers, o.allocations));
  Counts counts;
  std::unique_ptr<Peers> peers;
  try {
    peers = std::make_unique<Peers>(*bind, o.peers, o.peer_port);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hush-streamgen: %s\n", e.what());
    return 1;
  }
  Generator gen(o, t, *server, *bind, *peers, counts);
  const std::int64_t setup0 = now_ns();
  const std::size_t ready = gen.set_up();
  const double setup_s = static_cast<double>(now_ns() - setup0) / 1e9;

  const std::uint64_t peer0 = peers->received();
  const double cpu0 = cpu_seconds();
  const double server_cpu0 = process_cpu_seconds(o.server_pid);
  const std::int64_t start = now_ns() + 50'000'000;
  const std::int64_t end = start + static_cast<std::int64_t>(o.duration * 1e9);
  const std::int64_t measured = start + static_cast<std::int64_t>(o.warmup * 1e9);

  // The storm: full handshakes on new connections, as fast as each thread can, while the calls run.
  std::atomic<bool> storming{o.storm_threads > 0};
  std::atomic<std::uint64_t> storm_resumed{0};
  std::vector<Histogram> storm_times(o.storm_threads);
  std::vector<std::thread> storm;
  for (unsigned k = 0; k < o.storm_threads; ++k)
    storm.emplace_back([&, k] {
      Generator g(o, t, *server, *bind, *peers, counts);
      while (now_ns() < start) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      SSL_SESSION* session = nullptr;  // --resume: the session of this thread's first handshake
      while (storming && now_ns() < end) {
        Client c;
        if (!g.open(c, storm_times[k], session)) continue;
        if (o.resume && c.ssl != nullptr) {
          if (SSL_session_reused(c.ssl)) ++storm_resumed;
          if (session == nullptr || !SSL_session_reused(c.ssl)) {
            if (t == Transport::tls) {  // TLS 1.3 tickets come after the handshake: read them
              char b;
              SSL_peek(c.ssl, &b, 0);
              ERR_clear_error();
            }
            if (SSL_SESSION* s = SSL_get1_session(c.ssl); s != nullptr && SSL_SESSION_is_resumable(s)) {
              if (session != nullptr) SSL_SESSION_free(session);
              session = s;
            } else if (s != nullptr) {
              SSL_SESSION_free(s);
            }
          }
        }
        g.close(c);
      }
      if (session != nullptr) SSL_SESSION_free(session);
    });
  gen.run(start, measured, end);
  storming = false;
  for (auto& th : storm) th.join();

  const std::uint64_t at_peers = peers->received() - peer0;
  const double cpu = cpu_seconds() - cpu0;
  const double server_cpu = process_cpu_seconds(o.server_pid) - server_cpu0;
  const long server_rss = process_rss_kib(o.server_pid);
  const double wall = static_cast<double>(now_ns() - start) / 1e9;
  Histogram storm_all;
  for (const auto& h : storm_times) storm_all.merge(h);
  const double relayed = static_cast<double>(at_peers + gen.received);
  const double server_us = relayed > 0 ? server_cpu * 1e6 / relayed : 0;
  const double loss = gen.sent ? 100.0 * static_cast<double>(gen.sent - std::min(gen.sent, gen.received)) /
                                     static_cast<double>(gen.sent)
                               : 0;
  auto us = [&](double q) { return static_cast<double>(gen.rtt.quantile(q)) / 1000.0; };
  auto ms = [](const Histogram& h, double q) { return static_cast<double>(h.quantile(q)) / 1e6; };
  const double storm_per_s = static_cast<double>(storm_all.count()) / o.duration;
  if (o.json) {
    std::printf("{\"transport\":\"%s\",\"allocations\":%zu,\"ready\":%zu,\"setup_per_s\":%.1f,"
                "\"handshake_ms\":{\"p50\":%.3f,\"p99\":%.3f,\"max\":%.3f},\"offered_pps\":%.1f,\"sent\":%" PRIu64
                ",\"to_peer\":%" PRIu64 ",\"to_client\":%" PRIu64 ",\"loss_pct\":%.3f,\"backlog_drops\":%" PRIu64
                ",\"rtt_us\":{\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"p999\":%.1f,\"max\":%.1f},"
                "\"generator_cpu_pct\":%.1f,\"server_cpu_s\":%.3f,\"server_us_per_pkt\":%.3f,\"server_rss_kib\":%ld,"
                "\"storm\":{\"threads\":%u,\"handshakes\":%" PRIu64 ",\"resumed\":%" PRIu64
                ",\"per_s\":%.1f,\"p50_ms\":%.3f,\"p99_ms\":%.3f},"
                "\"errors\":{",
                o.transport.c_str(), o.allocations, ready, setup_s > 0 ? static_cast<double>(ready) / setup_s : 0,
                ms(gen.handshakes, 0.5), ms(gen.handshakes, 0.99), static_cast<double>(gen.handshakes.max()) / 1e6,
                o.rate * static_cast<double>(o.allocations), gen.sent, at_peers, gen.received, loss, gen.backlog_drops,
                us(0.5), us(0.9), us(0.99), us(0.999), static_cast<double>(gen.rtt.max()) / 1000.0,
                100.0 * cpu / wall, server_cpu, server_us, server_rss, o.storm_threads, storm_all.count(),
                storm_resumed.load(), storm_per_s,
                ms(storm_all, 0.5), ms(storm_all, 0.99));
    bool first = true;
    for (const auto& [k, v] : counts.errors) {
      std::printf("%s\"%s\":%" PRIu64, first ? "" : ",", k.c_str(), v);
      first = false;
    }
    std::printf("}}\n");
  } else {
    std::printf("clients          %zu ready of %zu over %s, set-up %.0f/s; connect and handshake p50 %.2f ms, p99 %.2f ms\n",
                ready, o.allocations, o.transport.c_str(), setup_s > 0 ? static_cast<double>(ready) / setup_s : 0,
                ms(gen.handshakes, 0.5), ms(gen.handshakes, 0.99));
    std::printf("offered          %.0f packets/s each way, %zu-byte payloads, %s\n",
                o.rate * static_cast<double>(o.allocations), o.size, o.indications ? "Send/Data indications" : "ChannelData");
    std::printf("delivered        %.0f/s to peers, %.0f/s back to clients\n", static_cast<double>(at_peers) / o.duration,
                static_cast<double>(gen.received) / o.duration);
    std::printf("loss             %.3f%% (%" PRIu64 " sent, %" PRIu64 " at peers, %" PRIu64 " back; %" PRIu64
                " not sent: the stream's backlog was full)\n",
                loss, gen.sent, at_peers, gen.received, gen.backlog_drops);
    std::printf("round trip (us)  p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f\n", us(0.5), us(0.9), us(0.99),
                us(0.999), static_cast<double>(gen.rtt.max()) / 1000.0);
    std::printf("generator CPU    %.1f%% of one core\n", 100.0 * cpu / wall);
    if (o.server_pid > 0)
      std::printf("server           %.3f us CPU per relayed packet (%.2f s), RSS %ld KiB\n", server_us, server_cpu,
                  server_rss);
    if (o.storm_threads > 0)
      std::printf("storm            %" PRIu64 " new connections (%" PRIu64 " resumed), %.0f/s (%u threads); p50 %.2f ms, "
                  "p99 %.2f ms\n",
                  storm_all.count(), storm_resumed.load(), storm_per_s, o.storm_threads, ms(storm_all, 0.5),
                  ms(storm_all, 0.99));
    for (const auto& [k, v] : counts.errors) std::printf("error            %s: %" PRIu64 "\n", k.c_str(), v);
  }
  return 0;
}
