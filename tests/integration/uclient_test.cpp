// coturn's turnutils_uclient relays through hush to turnutils_peer with zero loss, with
// channels and with Send/Data indications, on one and two worker threads.
#include <gtest/gtest.h>

#include <regex>
#include <thread>

#include "relay_process.hpp"

using namespace hush;
using namespace hush::test;

bool net_port_free(std::uint16_t port);

namespace {

// An echo peer far from the relay's port (uclient 4.6.1 trips over adjacent ports).
std::unique_ptr<Process> start_peer(std::uint16_t near, std::uint16_t& port) {
  port = static_cast<std::uint16_t>(near + 3000);
  while (!net_port_free(port)) ++port;
  auto p = std::make_unique<Process>("turnutils_peer", std::vector<std::string>{"-p", std::to_string(port), "-L", "127.0.0.1"});
  UdpSocket probe;
  for (int i = 0; i < 50; ++i) {
    probe.send_to(*Endpoint::parse("127.0.0.1:" + std::to_string(port)), as_bytes("ping"));
    if (probe.receive(std::chrono::milliseconds(50))) return p;
  }
  throw std::runtime_error("turnutils_peer did not start");
}

struct Totals {
  long sent = -1;
  long received = -1;
  long lost = -1;
};

Totals parse_totals(const std::string& out) {
  Totals t;
  std::smatch m;
  std::regex msgs(R"(tot_send_msgs=(\d+), tot_recv_msgs=(\d+)\s*\n)");
  for (auto it = std::sregex_iterator(out.begin(), out.end(), msgs); it != std::sregex_iterator(); ++it) {
    t.sent = std::stol((*it)[1]);
    t.received = std::stol((*it)[2]);
  }
  if (std::regex_search(out, m, std::regex(R"(Total lost packets (\d+))"))) t.lost = std::stol(m[1]);
  return t;
}

// Runs turnutils_uclient (10 clients x 100 messages of 120 bytes to an echo peer) with the
// extra flags, and checks that every message came back.
void expect_every_message_relayed(Relay& relay, std::uint16_t server_port, const std::string& flags) {
  std::uint16_t peer_port = 0;
  auto peer = start_peer(relay.port, peer_port);
  std::string cmd = "timeout 120 turnutils_uclient" + flags + " -W " + relay.secret + " -u user -e 127.0.0.1 -r " +
                    std::to_string(peer_port) + " -m 10 -n 100 -l 120 -p " + std::to_string(server_port) + " 127.0.0.1";
  auto r = run_command(cmd);
  auto t = parse_totals(r.output);
  EXPECT_EQ(t.sent, 1000) << r.output.substr(r.output.size() > 2000 ? r.output.size() - 2000 : 0);
  EXPECT_EQ(t.received, t.sent);
  EXPECT_EQ(t.lost, 0);
  EXPECT_TRUE(relay.process().running());
}

}  // namespace

class Uclient : public ::testing::TestWithParam<std::tuple<int, bool>> {};

TEST_P(Uclient, RelaysEveryMessage) {
  const auto [threads, channels] = GetParam();
  Relay relay({"--threads", std::to_string(threads)});
  expect_every_message_relayed(relay, relay.port, channels ? "" : " -c");
}

INSTANTIATE_TEST_SUITE_P(ThreadsAndChannels, Uclient,
                         ::testing::Combine(::testing::Values(1, 2), ::testing::Values(true, false)),
                         [](const auto& p) {
                           return "threads" + std::to_string(std::get<0>(p.param)) +
                                  (std::get<1>(p.param) ? "_channels" : "_indications");
                         });

// TURN over TCP (-t) and TLS (-t -S) from coturn's client, to a UDP peer.
class UclientStream : public ::testing::TestWithParam<std::tuple<bool, bool>> {};

TEST_P(UclientStream, RelaysEveryMessage) {
  const auto [tls, channels] = GetParam();
  const auto cert = make_test_certificate();
  const auto tls_port = free_udp_port();
  Relay relay({"--tls-listen", "127.0.0.1:" + std::to_string(tls_port), "--cert", cert.cert, "--key", cert.key});
  expect_every_message_relayed(relay, tls ? tls_port : relay.port,
                               std::string(tls ? " -t -S" : " -t") + (channels ? "" : " -c"));
}

INSTANTIATE_TEST_SUITE_P(TcpAndTls, UclientStream,
                         ::testing::Combine(::testing::Values(false, true), ::testing::Values(true, false)),
                         [](const auto& p) {
                           return std::string(std::get<0>(p.param) ? "tls" : "tcp") +
                                  (std::get<1>(p.param) ? "_channels" : "_indications");
                         });

TEST(RelayOnlyCall, TwoUsersOfOneRelayReachEachOtherThroughRelayedAddresses) {
  Relay relay({"--threads", "2"});
  auto user = relay.credential_username();
  auto pass = auth::rest_password(relay.secret, user);
  TurnClient alice(relay.endpoint(), user, pass);
  TurnClient bob(relay.endpoint(), user, pass);
  ASSERT_TRUE(alice.allocate());
  ASSERT_TRUE(bob.allocate());
  ASSERT_TRUE(alice.bind_channel(0x4000, bob.relayed())) << alice.last_error();
  ASSERT_TRUE(bob.bind_channel(0x4001, alice.relayed())) << bob.last_error();
  // Neither learns the other's own address: each sees only the other's relayed address.
  for (int i = 0; i < 100; ++i) {
    const std::string payload = "srtp-" + std::to_string(i);
    alice.send_channel(0x4000, payload);
    auto got = bob.socket().receive(std::chrono::seconds(2));
    ASSERT_TRUE(got) << "packet " << i;
    auto cd = stun::parse_channel_data(*got);
    ASSERT_TRUE(cd);
    EXPECT_EQ(cd->channel, 0x4001);
    EXPECT_EQ(as_text(cd->payload), payload);
  }
}
