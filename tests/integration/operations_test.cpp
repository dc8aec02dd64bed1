// The operator's view of a running relay, over real sockets: Prometheus metrics that count
// real traffic and name nobody, health and readiness, SIGTERM draining, SIGHUP reloading the
// config file and secrets without dropping calls, and two instances sharing one secret with
// the full one redirecting to the other.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <thread>

#include "hush/auth/rest_credential.hpp"
#include "relay_process.hpp"

using namespace hush;
using namespace hush::test;

namespace {

// The value of one sample, e.g. sample(text, R"(hush_relayed_packets_total{direction="to_peer"})").
double sample(const std::string& text, const std::string& name_and_labels) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (line.rfind(name_and_labels + " ", 0) == 0) return std::atof(line.c_str() + name_and_labels.size() + 1);
  ADD_FAILURE() << "no sample " << name_and_labels << " in:\n" << text;
  return -1;
}

// Polls until the metric reaches `want` (counters of other threads land shortly after).
double await_sample(std::uint16_t port, const std::string& what, double want) {
  double v = -1;
  for (int i = 0; i < 50; ++i) {
    v = sample(http_request(port, "/metrics").body, what);
    if (v == want) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(40));
  }
  return v;
}

std::string temp_file(const std::string& contents) {
  char tmpl[] = "/tmp/hush-conf-XXXXXX";
  const int fd = mkstemp(tmpl);
  ::close(fd);
  std::ofstream(tmpl) << contents;
  return tmpl;
}

}  // namespace

TEST(Metrics, CountRealTrafficAndNameNoAddressPortOrUser) {
  const auto mport = free_tcp_port();
  Relay relay(with_metrics(mport));
  LiveCall call(relay);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(call.works());
  EXPECT_EQ(await_sample(mport, R"(hush_relayed_packets_total{direction="to_peer"})", 10), 10);
  const std::string text = http_request(mport, "/metrics").body;
  EXPECT_EQ(sample(text, R"(hush_relayed_packets_total{direction="to_client"})"), 10);
  EXPECT_EQ(sample(text, R"(hush_relayed_bytes_total{direction="to_peer"})"), 70);     // "to-peer"
  EXPECT_EQ(sample(text, R"(hush_relayed_bytes_total{direction="to_client"})"), 90);   // "to-client"
  EXPECT_EQ(sample(text, R"(hush_allocations_active{transport="udp"})"), 1);
  EXPECT_EQ(sample(text, R"(hush_relayed_addresses_active{family="ipv4",transport="udp"})"), 1);
  EXPECT_EQ(sample(text, R"(hush_channels_active{family="ipv4",transport="udp"})"), 1);
  EXPECT_EQ(sample(text, R"(hush_permissions_active{family="ipv4",transport="udp"})"), 1);
  EXPECT_EQ(sample(text, "hush_allocations_created_total"), 1);
  // Each packet is relayed by a worker or, once its channel is in the kernel, by the kernel.
  EXPECT_EQ(sample(text, R"(hush_worker_packets_total{worker="0"})") +
                sample(text, R"(hush_worker_packets_total{worker="1"})") +
                sample(text, R"(hush_kernel_fastpath_packets_total{direction="to_peer"})") +
                sample(text, R"(hush_kernel_fastpath_packets_total{direction="to_client"})"),
            20);
  EXPECT_GT(sample(text, R"(hush_worker_busy_seconds_total{worker="0"})"), 0);

  // A wrong password is counted by reason.
  TurnClient intruder(relay.endpoint(), relay.credential_username(), "not-the-password");
  EXPECT_FALSE(intruder.allocate());
  EXPECT_EQ(await_sample(mport, R"(hush_auth_failures_total{reason="bad_integrity"})", 1), 1);

  // Labels only from fixed sets; no address, port or username anywhere.
  const std::string all = http_request(mport, "/metrics").body;
  const std::set<std::string> allowed = {"transport", "family", "direction", "reason", "code", "worker", "version", "le"};
  const std::regex label(R"(([a-z_]+)=\"([^\"]*)\")");
  for (auto it = std::sregex_iterator(all.begin(), all.end(), label); it != std::sregex_iterator(); ++it)
    EXPECT_TRUE(allowed.count((*it)[1])) << "label " << (*it)[1];
  for (const std::string& identifying :
       {std::string("127.0.0.1"), std::to_string(call.client.socket().local().port),
        std::to_string(call.peer.local().port), std::to_string(call.client.relayed().port),
        std::to_string(intruder.socket().local().port), std::string("integration")})
    EXPECT_EQ(all.find(identifying), std::string::npos) << "metrics show " << identifying;
}

TEST(Metrics, CountDatagramsTheKernelRefusedToSend) {
  const auto mport = free_tcp_port();
  // User space sends every datagram here (no kernel fast path).
  Relay relay(with_metrics(mport, {"--allow-peer", "198.51.100.0/24", "--kernel-fastpath", "off"}));
  LiveCall call(relay);
  ASSERT_TRUE(call.works());
  // The relayed address is on loopback, from where the kernel sends nothing to another
  // network (EINVAL; ENETUNREACH on a host without a route): each datagram to this peer is
  // refused at sendmmsg, by Send indication and by channel alike.
  const Endpoint unreachable = *Endpoint::parse("198.51.100.7:9");
  ASSERT_TRUE(call.client.create_permission(unreachable));
  for (int i = 0; i < 3; ++i) call.client.send_indication(unreachable, "never leaves");
  ASSERT_TRUE(call.client.bind_channel(0x4001, unreachable));
  for (int i = 0; i < 4; ++i) call.client.send_channel(0x4001, "nor this");
  EXPECT_EQ(await_sample(mport, R"(hush_dropped_packets_total{reason="send_failed"})", 7), 7);
  // The allocation still relays to its live peer, and those sends are not counted as refused.
  ASSERT_TRUE(call.works());
  const std::string text = http_request(mport, "/metrics").body;
  EXPECT_EQ(sample(text, R"(hush_dropped_packets_total{reason="send_failed"})"), 7);
  EXPECT_EQ(sample(text, R"(hush_relayed_packets_total{direction="to_client"})"), 2);
}

TEST(Metrics, TheExpositionPassesPromtool) {
  if (std::system("command -v promtool >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "promtool not installed (deploy/install-deps.sh test installs it)";
  const auto mport = free_tcp_port();
  Relay relay(with_metrics(mport));
  LiveCall call(relay);
  ASSERT_TRUE(call.works());
  const std::string path = temp_file(http_request(mport, "/metrics").body);
  auto r = run_command("promtool check metrics < " + path);
  std::remove(path.c_str());
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

TEST(Health, LiveAndReadyAnswerAndOtherRequestsAreRefused) {
  const auto mport = free_tcp_port();
  Relay relay(with_metrics(mport));
  EXPECT_EQ(http_request(mport, "/healthz").status, 200);
  EXPECT_EQ(http_request(mport, "/readyz").status, 200);
  EXPECT_EQ(http_request(mport, "/nothing").status, 404);
  EXPECT_EQ(http_request(mport, "/metrics", "POST").status, 405);
  // A client that connects and sends nothing does not block the others.
  const int idle = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(mport);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(idle, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  EXPECT_EQ(http_request(mport, "/healthz").status, 200);
  ::close(idle);
}

TEST(Drain, SigtermKeepsCallsRelayingRefusesNewOnesAndExitsWhenTheyEnd) {
  const auto mport = free_tcp_port();
  Relay relay(with_metrics(mport, {"--drain-timeout", "60"}));
  LiveCall call(relay);
  ASSERT_TRUE(call.works());
  relay.process().signal(SIGTERM);
  ASSERT_TRUE(relay.process().await_output("draining"));
  EXPECT_EQ(http_request(mport, "/readyz").status, 503);
  EXPECT_EQ(http_request(mport, "/healthz").status, 200);
  TurnClient late(relay.endpoint(), relay.credential_username(),
                  auth::rest_password(relay.secret, relay.credential_username()));
  EXPECT_FALSE(late.allocate());
  EXPECT_EQ(late.last_error(), 508);
  EXPECT_EQ(sample(http_request(mport, "/metrics").body, R"(hush_allocations_refused_total{reason="draining"})"), 1);
  // The call goes on, refreshes, and when it ends the relay exits 0 by itself.
  EXPECT_TRUE(call.works());
  ASSERT_TRUE(call.client.transact(stun::Method::refresh, [](auto& b) { b.add_u32(stun::attr::lifetime, 600); }));
  EXPECT_EQ(call.client.last_error(), 0);
  EXPECT_TRUE(call.works());
  EXPECT_TRUE(relay.process().running());
  ASSERT_TRUE(call.client.transact(stun::Method::refresh, [](auto& b) { b.add_u32(stun::attr::lifetime, 0); }));
  EXPECT_EQ(relay.process().wait_exit(std::chrono::seconds(5)), 0);
  EXPECT_NE(relay.process().output().find("drained"), std::string::npos);
}

TEST(Drain, TheTimeoutEndsIt) {
  Relay relay({"--drain-timeout", "1"});
  LiveCall call(relay);
  ASSERT_TRUE(call.works());
  relay.process().signal(SIGTERM);
  EXPECT_FALSE(relay.process().wait_exit(std::chrono::milliseconds(500)));
  EXPECT_EQ(relay.process().wait_exit(std::chrono::seconds(5)), 0);
  EXPECT_NE(relay.process().output().find("drain timeout"), std::string::npos);
}

TEST(Drain, ASecondSigtermStopsAtOnce) {
  Relay relay({"--drain-timeout", "600"});
  LiveCall call(relay);
  ASSERT_TRUE(call.works());
  relay.process().signal(SIGTERM);
  ASSERT_TRUE(relay.process().await_output("draining"));
  EXPECT_FALSE(relay.process().wait_exit(std::chrono::milliseconds(300)));
  relay.process().signal(SIGTERM);
  EXPECT_EQ(relay.process().wait_exit(std::chrono::seconds(3)), 0);
}

TEST(Reload, SighupAppliesTheConfigFileAndSecretsWithoutDroppingCalls) {
  const auto mport = free_tcp_port();
  const std::string conf = temp_file("max-allocations = 10\n");
  Relay relay(with_metrics(mport, {"--config", conf}));
  LiveCall call(relay);
  ASSERT_TRUE(call.works());

  // Rotate: a new secret first (it mints), the old one second (it still verifies).
  std::ofstream(relay.secret_file) << "rotated-secret\n" << relay.secret << "\n";
  std::ofstream(conf) << "max-allocations = 1\n";
  relay.process().signal(SIGHUP);
  ASSERT_TRUE(relay.process().await_output("reloaded"));
  EXPECT_EQ(sample(http_request(mport, "/metrics").body, "hush_config_reloads_total"), 1);
  EXPECT_EQ(sample(http_request(mport, "/metrics").body, "hush_allocations_limit"), 1);
  EXPECT_TRUE(call.works());  // the call survived
  // Nonces are keyed by the first secret: the call's next request meets 438 once, then goes on.
  const int stale = call.client.stale_nonces();
  EXPECT_TRUE(call.client.create_permission(call.peer.local()));
  EXPECT_EQ(call.client.stale_nonces(), stale + 1);
  const std::string user = relay.credential_username();
  TurnClient fresh(relay.endpoint(), user, auth::rest_password("rotated-secret", user));
  EXPECT_FALSE(fresh.allocate());
  EXPECT_EQ(fresh.last_error(), 508);  // authenticated with the new secret, refused by the new limit
  EXPECT_EQ(http_request(mport, "/readyz").status, 503);  // full

  // A bad file is rejected with a line naming the key; the running configuration stays.
  std::ofstream(conf) << "max-allocations = lots\n";
  relay.process().signal(SIGHUP);
  ASSERT_TRUE(relay.process().await_output("configuration rejected"));
  EXPECT_NE(relay.process().output().find("--max-allocations"), std::string::npos) << relay.process().output();
  EXPECT_EQ(sample(http_request(mport, "/metrics").body, "hush_config_reload_failures_total"), 1);
  EXPECT_EQ(sample(http_request(mport, "/metrics").body, "hush_allocations_limit"), 1);
  EXPECT_TRUE(call.works());

  // An option that needs a restart is named and kept.
  std::ofstream(conf) << "max-allocations = 5\nexternal-ip = 127.0.0.9\n";
  relay.process().signal(SIGHUP);
  ASSERT_TRUE(relay.process().await_output("--external-ip changed"));
  EXPECT_EQ(await_sample(mport, "hush_allocations_limit", 5), 5);
  EXPECT_TRUE(fresh.allocate()) << fresh.last_error();
  EXPECT_EQ(fresh.relayed().ip.to_string(), "127.0.0.1");  // not the new external address
  EXPECT_TRUE(call.works());
  std::remove(conf.c_str());
}

// --users-file: static users verify beside REST credentials; SIGHUP re-reads the file, a bad
// one is rejected whole, and neither a username nor a password reaches the log.
TEST(Reload, SighupReReadsTheUsersFileAndABadOneIsRejected) {
  const auto mport = free_tcp_port();
  const std::string users = temp_file("# softphones\nalice:wonderland\n");
  Relay relay(with_metrics(mport, {"--users-file", users}));
  TurnClient alice(relay.endpoint(), "alice", "wonderland");
  ASSERT_TRUE(alice.allocate()) << alice.last_error();
  const std::string rest = relay.credential_username();
  TurnClient web(relay.endpoint(), rest, auth::rest_password(relay.secret, rest));
  EXPECT_TRUE(web.allocate()) << web.last_error();

  std::ofstream(users) << "alice:wonderland\nbob\n";  // line 2 has no password
  relay.process().signal(SIGHUP);
  ASSERT_TRUE(relay.process().await_output("--users-file: " + users + " line 2"));
  EXPECT_EQ(sample(http_request(mport, "/metrics").body, "hush_config_reload_failures_total"), 1);
  TurnClient alice2(relay.endpoint(), "alice", "wonderland");
  EXPECT_TRUE(alice2.allocate()) << alice2.last_error();

  std::ofstream(users) << "bob:0x" << "bc807ee29df3c9ffa736523fb2c4e8ee" << "\n";  // alice is gone
  relay.process().signal(SIGHUP);
  ASSERT_TRUE(relay.process().await_output("reloaded"));
  TurnClient alice3(relay.endpoint(), "alice", "wonderland");
  EXPECT_FALSE(alice3.allocate());
  EXPECT_EQ(alice3.last_error(), 401);
  const std::string log = relay.process().output();
  for (const char* secret : {"alice", "wonderland", "bc807ee2"}) EXPECT_EQ(log.find(secret), std::string::npos) << log;
  std::remove(users.c_str());
}

TEST(ScaleOut, OneSecretServesTwoInstancesAndAFullOneRedirectsToTheOther) {
  Relay second({}, "127.0.0.2");
  Relay first({"--max-allocations", "1", "--alternate-server", second.endpoint().to_string()});
  // A credential minted by one instance's tool is accepted by both.
  auto minted = run_command(std::string(HUSH_RELAY_BINARY) + " credential --secret-file " + first.secret_file);
  ASSERT_EQ(minted.exit_code, 0) << minted.output;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(minted.output, m, std::regex(R"re("username":"([^"]+)","password":"([^"]+)")re")));
  TurnClient on_first(first.endpoint(), m[1], m[2]);
  ASSERT_TRUE(on_first.allocate()) << on_first.last_error();
  TurnClient on_second(second.endpoint(), m[1], m[2]);
  ASSERT_TRUE(on_second.allocate()) << on_second.last_error();

  // The first is full: a new client is sent to the second, and its call works there.
  TurnClient redirected(first.endpoint(), m[1], m[2]);
  EXPECT_FALSE(redirected.allocate());
  EXPECT_EQ(redirected.last_error(), 300);
  ASSERT_TRUE(redirected.alternate());
  EXPECT_EQ(*redirected.alternate(), second.endpoint());
  const Endpoint alternate = *redirected.alternate();
  LiveCall call(second, &alternate);
  EXPECT_TRUE(call.works());
  EXPECT_EQ(call.client.relayed().ip.to_string(), "127.0.0.2");

  // Redirected as libwebrtc (Chromium) is, with the first relay's nonce, which 438 would end:
  // the second accepts it, since both derive their nonce key from the secret they share.
  redirected.follow_alternate();
  EXPECT_TRUE(redirected.allocate()) << redirected.last_error();
  EXPECT_EQ(redirected.stale_nonces(), 0);
  EXPECT_EQ(redirected.relayed().ip.to_string(), "127.0.0.2");
}

TEST(CredentialApi, MintsOverHttpACredentialTheRelayAccepts) {
  const auto aport = free_tcp_port();
  const std::string keys = temp_file("# application servers\nsynapse-key-0123456789abcdef\n");
  Relay relay({"--api", "127.0.0.1:" + std::to_string(aport), "--api-key-file", keys, "--api-uri",
               "turn:turn.example.org:3478?transport=udp", "--metrics", "127.0.0.1:" + std::to_string(free_tcp_port())});
  auto mint = [&](const std::string& key, const std::string& query) {
    return http_request(aport, "/" + query, "GET", key.empty() ? "" : "Bearer " + key);
  };
  auto r = mint("synapse-key-0123456789abcdef", "?service=turn&username=%40alice%3Amatrix.example");
  ASSERT_EQ(r.status, 200) << r.body;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.body, m, std::regex(R"re("username":"([^"]+)","password":"([^"]+)","ttl":600)re")))
      << r.body;
  EXPECT_EQ(r.body.find("alice"), std::string::npos);
  EXPECT_NE(r.body.find("turn:turn.example.org:3478?transport=udp"), std::string::npos);
  TurnClient client(relay.endpoint(), m[1], m[2]);
  EXPECT_TRUE(client.allocate()) << client.last_error();

  // A bad key: 401 and an empty body.
  auto denied = mint("guess", "?service=turn");
  EXPECT_EQ(denied.status, 401);
  EXPECT_TRUE(denied.body.empty());
  EXPECT_EQ(mint("", "?service=turn").status, 401);
  // Nothing about the caller in the relay's output.
  EXPECT_EQ(relay.process().output().find("alice"), std::string::npos);

  // A reload with a new key file: the old key stops working, the new one works.
  std::ofstream(keys) << "rotated-key-0123456789abcdef\n";
  relay.process().signal(SIGHUP);
  ASSERT_TRUE(relay.process().await_output("reloaded"));
  EXPECT_EQ(mint("synapse-key-0123456789abcdef", "?service=turn").status, 401);
  EXPECT_EQ(mint("rotated-key-0123456789abcdef", "?service=turn").status, 200);
  std::remove(keys.c_str());
}

// kill -9 in the middle of a call: nothing is left on disk to recover, and a client that
// allocates again on the relay that replaces it gets a working call (its old nonce is stale
// under the new process's key: 438, then success).
TEST(Restart, AfterKill9ClientsAllocateAgainAndTheRelayHeldNoFile) {
  Relay relay({"--threads", "1"});
  LiveCall call(relay);
  ASSERT_TRUE(call.works());
  // What the relay has open besides its standard streams: sockets, its epoll and eventfd
  // descriptors, pipes; no regular file (it read its secret file and closed it).
  const std::string fd_dir = "/proc/" + std::to_string(relay.process().pid()) + "/fd";
  // Files it inherited are not its own: the harness's log (its standard output) and whatever
  // the test runner left open in this process (ctest's own log, for one).
  auto open_files = [](const std::string& dir) {
    std::set<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
      std::error_code ec;
      const auto target = std::filesystem::read_symlink(e.path(), ec).string();
      if (!target.empty() && target.front() == '/' && target.rfind("/dev/", 0) != 0) out.insert(target);
    }
    return out;
  };
  const auto inherited = open_files("/proc/self/fd");
  const auto log = std::filesystem::read_symlink(fd_dir + "/1").string();
  std::vector<std::string> files;
  for (const auto& f : open_files(fd_dir))
    if (f != log && !inherited.contains(f)) files.push_back(f);
  EXPECT_TRUE(files.empty()) << ::testing::PrintToString(files);

  relay.process().signal(SIGKILL);
  ASSERT_TRUE(relay.process().wait_exit(std::chrono::seconds(5)));
  EXPECT_FALSE(call.works());
  Process again(HUSH_RELAY_BINARY, {"--listen", relay.endpoint().to_string(), "--secret-file", relay.secret_file,
                                    "--allow-peer", "127.0.0.0/8", "--relay-ports", "61000-64999", "--threads", "1"});
  UdpSocket probe;
  ASSERT_TRUE(await_binding(probe, relay.endpoint())) << again.output();
  ASSERT_TRUE(call.client.allocate()) << call.client.last_error();
  ASSERT_TRUE(call.client.bind_channel(0x4000, call.peer.local())) << call.client.last_error();
  EXPECT_TRUE(call.works());
}
