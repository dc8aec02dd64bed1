// hush-loadgen over real sockets, in two respects the benchmark relies on.
// Its echo peers in the kernel (--echo-in-kernel, what `loadtest/bench.sh --kernel` measures
// with): over a real veth pair between two network namespaces, the relay (user space only, so
// that nothing but the echo program is in the kernel) gets every datagram answered from the
// peer's address and port, for IPv4 and IPv6 peers, and the program is gone when the generator
// exits. Needs root, BTF and tcx, as the fast path does; elsewhere reported as skipped.
// Its drop counts: datagrams dropped at the server's sockets are told apart from its own.
// Its closed loop (--circulate): packets go round through the relay with the kernel bouncing
// them at both ends.
#include <gtest/gtest.h>

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <thread>

#include "relay_process.hpp"

using namespace hush::test;

namespace {

#ifdef HUSH_LOADGEN_BINARY
// The number after "key": in hush-loadgen's one-line JSON, or -1.
long json_number(const std::string& json, const std::string& key) {
  const auto at = json.find("\"" + key + "\":");
  return at == std::string::npos ? -1 : std::atol(json.c_str() + at + key.size() + 3);
}

// hush-loadgen against `relay` with one echo peer of its own: 10 allocations at `rate`
// datagrams/s each for `seconds`, its report as JSON.
Process generator(const Relay& relay, int rate, int seconds, const std::vector<std::string>& more = {}) {
  std::vector<std::string> args = {"--server", relay.endpoint().to_string(), "--secret", relay.secret,
                                   "--allocations", "10", "--rate", std::to_string(rate), "--size", "100",
                                   "--duration", std::to_string(seconds), "--peers", "1", "--peer-port",
                                   std::to_string(free_udp_port()), "--json"};
  args.insert(args.end(), more.begin(), more.end());
  return Process(HUSH_LOADGEN_BINARY, args);
}
#endif

TEST(LoadGenerator, EchoPeersInTheKernelAnswerEveryDatagramFromThePeersAddress) {
#ifndef HUSH_LOADGEN_BINARY
  GTEST_SKIP() << "built without the load generator (HUSH_LOADTEST=OFF)";
#else
  std::string why;
  if (!kernel_fastpath_available(&why)) GTEST_SKIP() << why;
  const std::string id = std::to_string(::getpid() % 100000);
  const std::string s = "hushls" + id, g = "hushlg" + id;
  struct Cleanup {
    std::string s, g;
    ~Cleanup() { run_command("ip netns del " + s + "; ip netns del " + g); }
  } cleanup{s, g};
  auto made = run_command(
      "set -e; for n in " + s + " " + g + "; do ip netns add $n; ip -n $n link set lo up; done;"
      "ip link add vls type veth peer name vlg; ip link set vls netns " + s + "; ip link set vlg netns " + g + ";"
      "ip -n " + s + " addr add 10.78.0.1/24 dev vls; ip -n " + g + " addr add 10.78.0.2/24 dev vlg;"
      "ip -n " + s + " addr add fd78::1/64 dev vls nodad; ip -n " + g + " addr add fd78::2/64 dev vlg nodad;"
      "ip -n " + s + " link set vls up; ip -n " + g + " link set vlg up");
  ASSERT_EQ(made.exit_code, 0) << made.output;
  const std::string secret_file = "/tmp/hush-loadgen-secret-" + id;
  run_command("echo lgsecret > " + secret_file);
  Process relay("ip", {"netns", "exec", s, HUSH_RELAY_BINARY, "--listen", "10.78.0.1:3478", "--relay-ip", "10.78.0.1",
                       "--relay-ip", "fd78::1", "--secret-file", secret_file, "--allow-peer", "10.78.0.2/32",
                       "--allow-peer", "fd78::2/128", "--kernel-fastpath", "off", "--threads", "1"});
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  ASSERT_TRUE(relay.running()) << relay.output();
  for (const std::string peer : {"10.78.0.2", "fd78::2"}) {
    const auto r = run_command("ip netns exec " + g + " timeout 60 " + HUSH_LOADGEN_BINARY +
                               " --server 10.78.0.1:3478 --bind 10.78.0.2 --peer-bind " + peer +
                               " --secret lgsecret --allocations 20 --rate 100 --size 100 --duration 2 --peers 8"
                               " --echo-in-kernel vlg --json 2>&1");
    ASSERT_EQ(r.exit_code, 0) << peer << "\n" << r.output << relay.output();
    EXPECT_EQ(json_number(r.output, "ready"), 20) << peer << "\n" << r.output;
    const long sent = json_number(r.output, "sent");
    EXPECT_GE(sent, 3000) << peer << "\n" << r.output;  // 20 x 100/s x 2 s, give or take the start
    // Every datagram the relay sent to a peer port was echoed (the program's own count) and
    // came back to its client through the relay, so it arrived from the peer's address and
    // port, with the probe's magic number and send time intact.
    EXPECT_EQ(json_number(r.output, "to_peer"), sent) << peer << "\n" << r.output;
    EXPECT_EQ(json_number(r.output, "to_client"), sent) << peer << "\n" << r.output;
    EXPECT_EQ(run_command("bpftool prog show name hush_echo 2>/dev/null").output, "") << peer;
  }
  run_command("rm -f " + secret_file);
#endif
}

// Where a loss happened: a server that stops reading loses datagrams at its own sockets, and
// the generator says so (server_drops) and does not blame its own sockets for them. The
// search for each server's loss-free rate (bench.sh --throughput) tells a generator that fell
// behind from a server that did by these two counts.
TEST(LoadGenerator, CountsDropsAtTheServersSocketsApartFromItsOwn) {
#ifndef HUSH_LOADGEN_BINARY
  GTEST_SKIP() << "built without the load generator (HUSH_LOADTEST=OFF)";
#else
  Relay relay({"--threads", "1", "--kernel-fastpath", "off"});
  Process gen = generator(relay, 2000, 4, {"--server-pid", std::to_string(relay.process().pid())});
  // Set-up done and traffic flowing, then the relay stops reading for two seconds: 40,000
  // datagrams for a listener whose 4 MiB buffer holds a few thousand.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  relay.process().signal(SIGSTOP);
  std::this_thread::sleep_for(std::chrono::seconds(2));
  relay.process().signal(SIGCONT);
  const auto status = gen.wait_exit(std::chrono::seconds(30));
  ASSERT_TRUE(status) << gen.output();
  EXPECT_EQ(*status, 0) << gen.output();
  const std::string out = gen.output();
  ASSERT_EQ(json_number(out, "ready"), 10) << out;
  const long sent = json_number(out, "sent"), back = json_number(out, "to_client");
  const long at_server = json_number(out, "server_drops"), at_generator = json_number(out, "generator_drops");
  EXPECT_GT(at_server, 10000) << out;
  ASSERT_GE(at_generator, 0) << out;
  // Each lost probe was dropped in one place at most.
  EXPECT_LE(at_server + at_generator, sent - back) << out;
#endif
}

TEST(LoadGenerator, ReportsHowFarItFellBehindItsSchedule) {
#ifndef HUSH_LOADGEN_BINARY
  GTEST_SKIP() << "built without the load generator (HUSH_LOADTEST=OFF)";
#else
  Relay relay({"--threads", "1", "--kernel-fastpath", "off"});
  Process gen = generator(relay, 200, 3);
  // Traffic flowing, then the generator itself is stopped for 400 ms: its senders come back
  // 400 ms behind and send what was due in one burst, which it must report.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  gen.signal(SIGSTOP);
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  gen.signal(SIGCONT);
  const auto status = gen.wait_exit(std::chrono::seconds(30));
  ASSERT_TRUE(status) << gen.output();
  EXPECT_EQ(*status, 0) << gen.output();
  const std::string out = gen.output();
  EXPECT_GE(json_number(out, "generator_lag_max_ms"), 350) << out;
  // The schedule was kept up with overall: what was due was sent (the last one may fall on
  // the end).
  EXPECT_GE(json_number(out, "sent"), 10 * 200 * 3 - 2) << out;
#endif
}

// --warmup: the round trips of probes sent in the first seconds stay out of the percentiles
// (a VM's first milliseconds of traffic are slow for every server alike, docs/performance.md),
// while they still count as sent and received. The relay stalls for 300 ms early in the run:
// with the stall inside the warm-up no measured round trip shows it; without, the maximum does.
TEST(LoadGenerator, LeavesTheWarmUpOutOfTheLatencyPercentiles) {
#ifndef HUSH_LOADGEN_BINARY
  GTEST_SKIP() << "built without the load generator (HUSH_LOADTEST=OFF)";
#else
  Relay relay({"--threads", "1", "--kernel-fastpath", "off"});
  auto stalled_run = [&](const std::vector<std::string>& more) {
    Process gen = generator(relay, 200, 4, more);
    std::this_thread::sleep_for(std::chrono::milliseconds(1000));  // set-up done, traffic flowing
    relay.process().signal(SIGSTOP);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    relay.process().signal(SIGCONT);
    const auto status = gen.wait_exit(std::chrono::seconds(30));
    EXPECT_TRUE(status && *status == 0) << gen.output();
    return gen.output();
  };
  const std::string warm = stalled_run({"--warmup", "2.5"});
  ASSERT_EQ(json_number(warm, "ready"), 10) << warm;
  EXPECT_EQ(json_number(warm, "to_client"), json_number(warm, "sent")) << warm;  // all counted
  EXPECT_GE(json_number(warm, "sent"), 10 * 200 * 4 - 2) << warm;
  EXPECT_LT(json_number(warm, "max"), 150'000) << warm;  // microseconds
  const std::string cold = stalled_run({});
  ASSERT_EQ(json_number(cold, "ready"), 10) << cold;
  EXPECT_GE(json_number(cold, "max"), 250'000) << cold;
#endif
}

// --circulate (what `loadtest/bench.sh --capacity` measures with): packets put in once go
// round client -> relay -> peer -> relay -> client with the kernel sending them back at both
// ends, so the relay relays far more than was sent; when the loop is opened at the end every
// packet lands at its client, none lost; and the program is gone when the generator exits.
// In a network namespace of its own, so its loopback echo touches no other test's traffic.
TEST(LoadGenerator, CirculatesPacketsThroughTheRelayWithNoGeneratorInTheLoop) {
#ifndef HUSH_LOADGEN_BINARY
  GTEST_SKIP() << "built without the load generator (HUSH_LOADTEST=OFF)";
#else
  std::string why;
  if (!kernel_fastpath_available(&why)) GTEST_SKIP() << why;
  const std::string ns = "hushlc" + std::to_string(::getpid() % 100000);
  struct Cleanup {
    std::string ns;
    ~Cleanup() { run_command("ip netns del " + ns); }
  } cleanup{ns};
  ASSERT_EQ(run_command("ip netns add " + ns + " && ip -n " + ns + " link set lo up").exit_code, 0);
  const std::string secret_file = "/tmp/hush-loadgen-secret-c" + ns;
  run_command("echo lgsecret > " + secret_file);
  Process relay("ip", {"netns", "exec", ns, HUSH_RELAY_BINARY, "--listen", "127.0.0.1:3478", "--secret-file",
                       secret_file, "--allow-peer", "127.0.0.0/8", "--kernel-fastpath", "off", "--threads", "1"});
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  ASSERT_TRUE(relay.running()) << relay.output();
  const auto r = run_command("ip netns exec " + ns + " timeout 60 " + HUSH_LOADGEN_BINARY +
                             " --server 127.0.0.1:3478 --secret lgsecret --allocations 10 --circulate 4 --size 100"
                             " --duration 2 --warmup 0.5 --peers 4 --peer-port 20100 --echo-in-kernel lo --json 2>&1");
  run_command("rm -f " + secret_file);
  ASSERT_EQ(r.exit_code, 0) << r.output << relay.output();
  ASSERT_EQ(json_number(r.output, "ready"), 10) << r.output;
  EXPECT_EQ(json_number(r.output, "sent"), 40) << r.output;  // put in once
  // Over 2 s each of the 40 went round hundreds of times at least (a round is tens of us).
  const long to_peer = json_number(r.output, "to_peer"), to_client = json_number(r.output, "to_client");
  EXPECT_GE(to_peer, 40 * 100) << r.output;
  EXPECT_GE(to_client, 40 * 100) << r.output;
  EXPECT_LE(std::labs(to_peer - to_client), 40 + to_peer / 100) << r.output;  // the same packets both ways
  EXPECT_EQ(json_number(r.output, "left"), 40) << r.output;  // all still there, at their clients
  EXPECT_EQ(json_number(r.output, "loss_pct"), 0) << r.output;
  EXPECT_EQ(run_command("bpftool prog show name hush_echo 2>/dev/null").output, "");
#endif
}

}  // namespace
