// Two libnice ICE agents (the library GStreamer, Farstream and Pidgin use) in one process,
// each forced to use only relayed candidates through hush (TURN over UDP, TCP and TLS),
// reach the ready state and exchange 1,000 messages each way: none lost, none reordered.
// libnice is the independent judge that real ICE agents can call each other through hush.
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nice/agent.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <cstring>
#include <atomic>
#include <mutex>
#include <string>
#include <set>
#include <thread>
#include <vector>

#include "hush/auth/rest_credential.hpp"
#include "relay_process.hpp"

using namespace hush;
using namespace hush::test;

namespace {

constexpr int kMessages = 1000;
constexpr std::size_t kMessageSize = 160;  // like a 20 ms Opus frame with SRTP overhead

struct Peer {
  NiceAgent* agent = nullptr;
  guint stream = 0;
  bool gathered = false;
  guint state = NICE_COMPONENT_STATE_DISCONNECTED;
  std::vector<std::uint32_t> received;  // sequence numbers, in arrival order
  bool corrupted = false;
};

void on_gathered(NiceAgent*, guint, gpointer data) { static_cast<Peer*>(data)->gathered = true; }

void on_state(NiceAgent*, guint, guint, guint state, gpointer data) { static_cast<Peer*>(data)->state = state; }

void on_receive(NiceAgent*, guint, guint, guint len, gchar* buf, gpointer data) {
  auto* p = static_cast<Peer*>(data);
  if (len != kMessageSize) {
    p->corrupted = true;
    return;
  }
  std::uint32_t seq;
  std::memcpy(&seq, buf, sizeof seq);
  for (guint i = sizeof seq; i < len; ++i)
    if (static_cast<unsigned char>(buf[i]) != static_cast<unsigned char>((seq + i) & 0xFF)) p->corrupted = true;
  p->received.push_back(seq);
}

class LibniceCall {
 public:
  // `ip`: the loopback address of the family under test, for the agents and the relay. With
  // `ip_b`, agent b uses that address and reaches the relay there, on `port_b`.
  LibniceCall(const Relay& relay, std::uint16_t port, NiceRelayType type, const std::string& ip = "127.0.0.1",
              const std::string& ip_b = "", std::uint16_t port_b = 0)
      : ctx_(g_main_context_new()) {
    const std::string user = relay.credential_username();
    const std::string pass = auth::rest_password(relay.secret, user);
    for (Peer* p : {&a_, &b_}) {
      const bool other = p == &b_ && !ip_b.empty();
      const std::string& my_ip = other ? ip_b : ip;
      const std::uint16_t my_port = other ? port_b : port;
      p->agent = nice_agent_new(ctx_, NICE_COMPATIBILITY_RFC5245);
      g_object_set(p->agent, "force-relay", TRUE, "controlling-mode", p == &a_ ? TRUE : FALSE, "ice-tcp", FALSE,
                   nullptr);
      // Loopback only: libnice skips loopback interfaces unless told to use them, and the
      // tests never send to the host's real interfaces.
      NiceAddress local;
      nice_address_init(&local);
      nice_address_set_from_string(&local, my_ip.c_str());
      nice_agent_add_local_address(p->agent, &local);
      p->stream = nice_agent_add_stream(p->agent, 1);
      nice_agent_set_relay_info(p->agent, p->stream, 1, my_ip.c_str(), my_port, user.c_str(), pass.c_str(), type);
      g_signal_connect(p->agent, "candidate-gathering-done", G_CALLBACK(on_gathered), p);
      g_signal_connect(p->agent, "component-state-changed", G_CALLBACK(on_state), p);
      nice_agent_attach_recv(p->agent, p->stream, 1, ctx_, on_receive, p);
      nice_agent_gather_candidates(p->agent, p->stream);
    }
  }
  ~LibniceCall() {
    for (Peer* p : {&a_, &b_}) {
      bool closed = false;  // lets libnice delete its allocations first
      nice_agent_close_async(p->agent, +[](GObject*, GAsyncResult*, gpointer d) { *static_cast<bool*>(d) = true; },
                             &closed);
      run_until([&] { return closed; }, std::chrono::seconds(2));
      nice_agent_remove_stream(p->agent, p->stream);
      g_object_unref(p->agent);
    }
    while (g_main_context_iteration(ctx_, FALSE)) {
    }
    g_main_context_unref(ctx_);
  }

  template <class Done>
  bool run_until(Done done, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      if (!g_main_context_iteration(ctx_, FALSE)) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
  }

  // Gathering, then each side gets the other's credentials and relayed candidates only.
  bool connect() {
    if (!run_until([&] { return a_.gathered && b_.gathered; }, std::chrono::seconds(10))) return false;
    exchange(a_, b_);
    exchange(b_, a_);
    return run_until([&] { return a_.state == NICE_COMPONENT_STATE_READY && b_.state == NICE_COMPONENT_STATE_READY; },
                     std::chrono::seconds(20));
  }

  // Both selected candidates relayed: the call goes through hush.
  bool relayed_both_ends() {
    for (Peer* p : {&a_, &b_}) {
      NiceCandidate* local = nullptr;
      NiceCandidate* remote = nullptr;
      if (!nice_agent_get_selected_pair(p->agent, p->stream, 1, &local, &remote)) return false;
      if (local->type != NICE_CANDIDATE_TYPE_RELAYED || remote->type != NICE_CANDIDATE_TYPE_RELAYED) return false;
    }
    return true;
  }

  void exchange_messages() {
    char buf[kMessageSize];
    for (std::uint32_t seq = 0; seq < kMessages; ++seq) {
      std::memcpy(buf, &seq, sizeof seq);
      for (std::size_t i = sizeof seq; i < kMessageSize; ++i) buf[i] = static_cast<char>((seq + i) & 0xFF);
      for (Peer* p : {&a_, &b_}) nice_agent_send(p->agent, p->stream, 1, kMessageSize, buf);
      if (seq % 20 == 19) run_until([] { return false; }, std::chrono::milliseconds(2));  // 10,000 messages/s at most
    }
    run_until([&] { return a_.received.size() >= kMessages && b_.received.size() >= kMessages; },
              std::chrono::seconds(10));
  }

  Peer& a() { return a_; }
  Peer& b() { return b_; }

 private:
  static void exchange(Peer& from, Peer& to) {
    gchar* ufrag = nullptr;
    gchar* pwd = nullptr;
    nice_agent_get_local_credentials(from.agent, from.stream, &ufrag, &pwd);
    nice_agent_set_remote_credentials(to.agent, to.stream, ufrag, pwd);
    g_free(ufrag);
    g_free(pwd);
    GSList* all = nice_agent_get_local_candidates(from.agent, from.stream, 1);
    GSList* relayed = nullptr;
    for (GSList* i = all; i != nullptr; i = i->next)
      if (static_cast<NiceCandidate*>(i->data)->type == NICE_CANDIDATE_TYPE_RELAYED) relayed = g_slist_append(relayed, i->data);
    nice_agent_set_remote_candidates(to.agent, to.stream, 1, relayed);
    g_slist_free(relayed);
    g_slist_free_full(all, reinterpret_cast<GDestroyNotify>(nice_candidate_free));
  }

  GMainContext* ctx_;
  Peer a_, b_;
};

// libnice 0.1.21 has no real TLS for TURN (its TURN-over-TLS is a fake handshake for Google
// and Microsoft compatibility modes), so for TLS its agents speak TURN over TCP to this bridge,
// which carries each connection inside a real TLS 1.3 session (OpenSSL, ALPN stun.turn) to
// hush's TLS port: libnice's TURN client, hush's TLS transport.
class TlsBridge {
 public:
  explicit TlsBridge(std::uint16_t target) : target_(target), ctx_(SSL_CTX_new(TLS_client_method())) {
    SSL_CTX_set_min_proto_version(ctx_, TLS1_3_VERSION);
    // A TLS 1.3 server sends session tickets after the handshake. With auto-retry (the
    // default) SSL_read would consume them and then block for application data that hush
    // only sends after the agent's first request, which this thread would never forward.
    SSL_CTX_clear_mode(ctx_, SSL_MODE_AUTO_RETRY);
    static const unsigned char alpn[] = "\x09stun.turn";
    SSL_CTX_set_alpn_protos(ctx_, alpn, sizeof alpn - 1);
    listener_ = listen_tcp_loopback(8);
    port = bound_port(listener_);
    acceptor_ = std::thread([this] { accept_loop(); });
  }
  ~TlsBridge() {
    stop_ = true;
    ::shutdown(listener_, SHUT_RDWR);
    ::close(listener_);
    acceptor_.join();
    for (auto& t : pumps_) t.join();
    SSL_CTX_free(ctx_);
  }
  std::uint16_t port = 0;
  int tls_sessions() const { return sessions_; }

 private:
  void accept_loop() {
    while (!stop_) {
      const int plain = ::accept(listener_, nullptr, nullptr);
      if (plain < 0) return;
      pumps_.emplace_back([this, plain] { pump(plain); });
    }
  }
  void pump(int plain) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    const sockaddr_in sa = loopback(target_);
    SSL* ssl = SSL_new(ctx_);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) == 0 && SSL_set_fd(ssl, fd) == 1 &&
        SSL_connect(ssl) == 1 && SSL_version(ssl) == TLS1_3_VERSION) {
      ++sessions_;
      char buf[16384];
      while (!stop_) {
        pollfd p[2] = {{plain, POLLIN, 0}, {fd, POLLIN, 0}};
        if (SSL_pending(ssl) == 0 && ::poll(p, 2, 100) <= 0) continue;
        if (SSL_pending(ssl) > 0 || (p[1].revents & (POLLIN | POLLHUP | POLLERR))) {
          const int n = SSL_read(ssl, buf, sizeof buf);
          if (n <= 0 && SSL_get_error(ssl, n) != SSL_ERROR_WANT_READ) break;  // WANT_READ: a ticket, no data
          if (n > 0 && ::send(plain, buf, static_cast<std::size_t>(n), MSG_NOSIGNAL) != n) break;
        }
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
          const ssize_t n = ::recv(plain, buf, sizeof buf, 0);
          if (n <= 0 || SSL_write(ssl, buf, static_cast<int>(n)) != n) break;
        }
      }
    }
    SSL_free(ssl);
    ::close(fd);
    ::close(plain);
  }

  std::uint16_t target_;
  SSL_CTX* ctx_;
  int listener_;
  std::atomic<bool> stop_{false};
  std::atomic<int> sessions_{0};
  std::thread acceptor_;
  std::vector<std::thread> pumps_;  // joined at destruction (only the acceptor adds)
};

bool in_order_without_gaps(const std::vector<std::uint32_t>& seqs) {
  for (std::size_t i = 0; i < seqs.size(); ++i)
    if (seqs[i] != i) return false;
  return true;
}

}  // namespace

class Libnice : public ::testing::TestWithParam<std::string> {};

TEST_P(Libnice, RelayOnlyAgentsConnectAndExchangeAThousandMessagesEachWay) {
  // udp-kernel: UDP with --kernel-fastpath on, where this machine can load it (the relay-only
  // call then goes client to client inside the kernel); udp: UDP in user space. udp6 and
  // udp6-kernel: the agents reach the relay on ::1 and, asking for no family (libnice never
  // does), get IPv4 relayed addresses as RFC 8656 §7.2 says: the usual case for an IPv6
  // client. Their channels cross families, and with the fast path on the kernel carries the
  // call all the same (client to client in one pass, so these packets stay IPv6).
  // udp6-keep(-kernel): an IPv6-only relay with --allocation-default-address-family keep,
  // where they get IPv6 relayed addresses (without it, 440). udp-mixed(-kernel): one agent on
  // 127.0.0.1 and one on ::1, both with IPv4 relayed addresses; with the fast path every
  // packet changes IP version in the kernel on its way from one client to the other.
  const std::string param = GetParam();
  const bool kernel = param.ends_with("-kernel");
  const bool v6 = param.starts_with("udp6");
  const bool keep = param.starts_with("udp6-keep");
  const bool mixed = param.starts_with("udp-mixed");
  const std::uint16_t port6 = mixed ? free_udp_port() : 0;
  const std::string transport = param.starts_with("udp") ? "udp" : param;
  const std::string ip = v6 ? "::1" : "127.0.0.1";
  std::string why;
  if (kernel && !kernel_fastpath_available(&why)) GTEST_SKIP() << why;
  const auto cert = make_test_certificate();
  const auto tls_port = free_udp_port();
  const auto mport = free_tcp_port();
  std::vector<std::string> args{"--threads", "2", "--tls-listen", "127.0.0.1:" + std::to_string(tls_port), "--cert",
                                cert.cert, "--key", cert.key, "--metrics", "127.0.0.1:" + std::to_string(mport),
                                "--kernel-fastpath", kernel ? "on" : "off"};
  if (keep)
    args.insert(args.end(), {"--relay-ip", "::1", "--allocation-default-address-family", "keep"});
  else
    args.insert(args.end(), {"--relay-ip", "127.0.0.1"});
  if (mixed) args.insert(args.end(), {"--listen", "[::1]:" + std::to_string(port6)});
  Relay relay(args, ip);
  std::optional<TlsBridge> bridge;
  if (transport == "tls") bridge.emplace(tls_port);
  LibniceCall call(relay, bridge ? bridge->port : relay.port,
                   transport == "udp" ? NICE_RELAY_TYPE_TURN_UDP : NICE_RELAY_TYPE_TURN_TCP, ip, mixed ? "::1" : "",
                   port6);
  ASSERT_TRUE(call.connect()) << "states " << call.a().state << " " << call.b().state << "\n"
                              << relay.process().output();
  EXPECT_TRUE(call.relayed_both_ends());
  // Both agents' allocations are on the transport under test.
  EXPECT_EQ(metric(mport, "hush_allocations_active{transport=\"" + transport + "\"}"), 2);
  if (kernel) {
    // The workers install a bound channel's flow just after answering the ChannelBind; on a
    // busy machine libnice's first messages can be quicker and go through user space.
    const std::string flows = "hush_kernel_fastpath_flows";
    for (int i = 0; i < 200 && metric(mport, flows) < 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    EXPECT_GE(metric(mport, flows), 2);
  }
  call.exchange_messages();
  for (Peer* p : {&call.a(), &call.b()}) {
    EXPECT_FALSE(p->corrupted);
    EXPECT_EQ(p->received.size(), static_cast<std::size_t>(kMessages));  // none lost
    EXPECT_TRUE(in_order_without_gaps(p->received));                     // none reordered
  }
  if (bridge) {
    EXPECT_GE(bridge->tls_sessions(), 2);
  }
  const double in_kernel = metric(mport, R"(hush_kernel_fastpath_packets_total{direction="to_client"})");
  if (kernel) {
    // Each agent's messages, and libnice's connectivity checks, after the channels were bound.
    EXPECT_GE(in_kernel, 2 * kMessages);
  } else {
    EXPECT_EQ(in_kernel, 0);
  }
}

INSTANTIATE_TEST_SUITE_P(TurnTransports, Libnice,
                         ::testing::Values("udp", "udp-kernel", "udp6", "udp6-kernel", "udp6-keep", "udp6-keep-kernel",
                                           "udp-mixed", "udp-mixed-kernel", "tcp", "tls"),
                         [](const auto& p) { std::string n = p.param; std::replace(n.begin(), n.end(), '-', '_'); return n; });

// 300 Try Alternate (RFC 8489 §10): the first relay is full after one allocation and names a
// second. libnice 0.1.21 follows the redirect: of two agents given the first relay, the one
// refused gathers its relayed candidate on the second. (A call between the two would go relay
// to relay across two instances on one host, which the peer policy refuses: this host's
// addresses are peers only at its own relayed addresses.)
TEST(Libnice, FollowsTryAlternateFromAFullRelayToTheSecond) {
  const auto mport = free_tcp_port();
  Relay second({"--relay-ip", "127.0.0.2", "--metrics", "127.0.0.1:" + std::to_string(mport)}, "127.0.0.2");
  Relay first({"--relay-ip", "127.0.0.1", "--max-allocations", "1", "--alternate-server",
               second.endpoint().to_string()});
  LibniceCall call(first, first.port, NICE_RELAY_TYPE_TURN_UDP);
  ASSERT_TRUE(call.run_until([&] { return call.a().gathered && call.b().gathered; }, std::chrono::seconds(10)));
  std::multiset<std::string> relayed_on;
  for (Peer* p : {&call.a(), &call.b()}) {
    GSList* all = nice_agent_get_local_candidates(p->agent, p->stream, 1);
    for (GSList* i = all; i != nullptr; i = i->next) {
      const auto* c = static_cast<NiceCandidate*>(i->data);
      if (c->type != NICE_CANDIDATE_TYPE_RELAYED) continue;
      char ip[NICE_ADDRESS_STRING_LEN];
      nice_address_to_string(&c->addr, ip);
      relayed_on.insert(ip);
    }
    g_slist_free_full(all, reinterpret_cast<GDestroyNotify>(nice_candidate_free));
  }
  EXPECT_EQ(relayed_on, (std::multiset<std::string>{"127.0.0.1", "127.0.0.2"}));
  EXPECT_EQ(metric(mport, R"(hush_allocations_active{transport="udp"})"), 1);
}

// hush-probe, the operator's check, against a relay with TLS: every row ok and exit 0; with a
// wrong password every TURN row fails and the exit status says so.
TEST(Probe, ChecksEveryTransportAndFailsLoudly) {
  const auto cert = make_test_certificate();
  const auto tls_port = free_udp_port();
  Relay relay({"--tls-listen", "127.0.0.1:" + std::to_string(tls_port), "--cert", cert.cert, "--key", cert.key});
  const std::string probe = std::string(HUSH_PROBE_BINARY) + " --server 127.0.0.1 --port " + std::to_string(relay.port) +
                            " --tls-port " + std::to_string(tls_port);
  auto good = run_command(probe + " --timeout 5 --secret-file " + relay.secret_file + " 2>&1");
  EXPECT_EQ(good.exit_code, 0) << good.output;
  for (const std::string row : {"STUN binding (UDP)", "TURN allocation (UDP)", "TURN allocation (TCP)",
                                "TURN allocation (TLS)", "TURN allocation (DTLS)", "relayed round trip (UDP)"})
    EXPECT_NE(good.output.find(row + std::string(28 - row.size(), ' ') + " ok"), std::string::npos) << row << "\n"
                                                                                                  << good.output;
  EXPECT_EQ(good.output.find("FAIL"), std::string::npos) << good.output;
  EXPECT_NE(good.output.find("TLSv1.3, ALPN stun.turn"), std::string::npos) << good.output;
  EXPECT_NE(good.output.find("DTLSv1.2, ALPN stun.turn"), std::string::npos) << good.output;

  auto bad = run_command(probe + " --timeout 2 --username " + relay.credential_username() + " --password wrong 2>&1");
  EXPECT_EQ(bad.exit_code, 1) << bad.output;
  EXPECT_NE(bad.output.find("TURN allocation (TLS)        FAIL"), std::string::npos) << bad.output;
  EXPECT_NE(bad.output.find("TURN allocation (DTLS)       FAIL"), std::string::npos) << bad.output;
  EXPECT_NE(bad.output.find("error 401"), std::string::npos) << bad.output;
}

// RFC 8656 §11.5 with a real ICE client: libnice (0.1.21) has no use for the ICMP Data
// indications hush sends and must not take them for media. A remote candidate added after the
// call is up points at a closed port, so agent A's connectivity checks to it, sent through
// A's allocation, come back as ICMP port unreachable; the call goes on unharmed.
TEST(Libnice, IcmpIndicationsAboutADeadCandidateLeaveTheCallUnharmed) {
  const auto mport = free_tcp_port();
  Relay relay({"--metrics", "127.0.0.1:" + std::to_string(mport), "--kernel-fastpath", "off"});
  LibniceCall call(relay, relay.port, NICE_RELAY_TYPE_TURN_UDP);
  ASSERT_TRUE(call.connect()) << relay.process().output();
  std::uint16_t dead_port = 0;
  {
    UdpSocket s;
    dead_port = s.local().port;
  }
  NiceCandidate* dead = nice_candidate_new(NICE_CANDIDATE_TYPE_RELAYED);
  dead->stream_id = call.a().stream;
  dead->component_id = 1;
  dead->transport = NICE_CANDIDATE_TRANSPORT_UDP;
  dead->priority = 0x7F000000;  // above the real one: checked, never answered
  std::strncpy(dead->foundation, "dead", NICE_CANDIDATE_MAX_FOUNDATION - 1);
  nice_address_set_from_string(&dead->addr, "127.0.0.1");
  nice_address_set_port(&dead->addr, dead_port);
  GSList* list = g_slist_append(nullptr, dead);
  ASSERT_EQ(nice_agent_set_remote_candidates(call.a().agent, call.a().stream, 1, list), 1);
  g_slist_free(list);
  nice_candidate_free(dead);
  // libnice checks the new pair (and retransmits): each check is refused by the closed port.
  const bool icmp_seen = call.run_until([&] { return metric(mport, "hush_icmp_indications_total") >= 1; },
                                        std::chrono::seconds(5));
  ASSERT_TRUE(icmp_seen) << "no ICMP indication was sent to the agent";
  call.exchange_messages();
  for (Peer* p : {&call.a(), &call.b()}) {
    EXPECT_FALSE(p->corrupted) << "an ICMP indication reached the application as data";
    EXPECT_EQ(p->received.size(), static_cast<std::size_t>(kMessages));
    EXPECT_TRUE(in_order_without_gaps(p->received));
    // CONNECTED while the dead pair's checks are still retransmitted, READY once they give up;
    // never FAILED.
    EXPECT_TRUE(p->state == NICE_COMPONENT_STATE_CONNECTED || p->state == NICE_COMPONENT_STATE_READY) << p->state;
  }
  EXPECT_TRUE(call.relayed_both_ends());
}
