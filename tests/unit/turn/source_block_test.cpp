// --block-after in the TURN core: which failures count, what a block drops, and that a
// spoofed source cannot get a victim blocked.
#include "../../support/turn_fixture.hpp"

using namespace hush;
using hush::test::TurnFixture;

namespace {
std::vector<std::byte> allocate_request(const test::LongTermAuth& a) {
  return test::build(stun::Method::allocate, stun::Class::request, test::random_tid(), test::udp_transport(), &a);
}
}  // namespace

TEST_F(TurnFixture, WrongCredentialsWithAValidNonceBlockTheSourceForAWhile) {
  options.block = policy::BlockLimits{5, 60'000'000'000, 300'000'000'000};
  start();
  auto bad = creds(client);
  bad.password = "guess";
  for (int i = 0; i < 5; ++i) EXPECT_EQ(deliver(allocate_request(bad))[0].error_code(), 401) << i;
  EXPECT_EQ(server->counters().source_blocks, 1u);
  // Blocked: even the right credential is not looked at, and nothing is answered.
  EXPECT_TRUE(deliver(allocate_request(creds(client))).empty());
  EXPECT_EQ(server->counters().dropped(turn::Drop::blocked), 1u);
  // Binding requests (no HMAC, rate-limited on their own) are still answered.
  auto binding = test::build(stun::Method::binding, stun::Class::request, test::random_tid(), {});
  EXPECT_EQ(deliver(binding).size(), 1u);
  // Another address is served meanwhile.
  const auto other = *Endpoint::parse("192.0.2.77:40000");
  EXPECT_EQ(request(stun::Method::allocate, test::udp_transport(), other).error_code(), 0);
  // The block ends.
  advance(std::chrono::seconds(301));
  EXPECT_EQ(request(stun::Method::allocate, test::udp_transport()).error_code(), 0);
}

TEST_F(TurnFixture, FailuresAnyoneCanForgeDoNotCount) {
  options.block = policy::BlockLimits{5, 60'000'000'000, 300'000'000'000};
  start();
  // A spoofer never sees the nonce sent to the victim: his requests carry none, a stale one or
  // a forged one, and none of that counts.
  auto forged = creds(client);
  forged.nonce = "AAAAAAAAAAAAAAAA";
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(deliver(allocate_request(forged))[0].error_code(), 438);
    deliver(test::build(stun::Method::allocate, stun::Class::request, test::random_tid(), test::udp_transport()));
  }
  EXPECT_EQ(server->counters().source_blocks, 0u);
  EXPECT_EQ(request(stun::Method::allocate, test::udp_transport()).error_code(), 0);
}

// ICE agents ask for permissions to every remote candidate, private host addresses included,
// and liblinphone's retries one five times a second: a 403 for such an address is an answer,
// not an offence, or a softphone's own user (and everyone behind the same NAT) would be
// blocked within seconds.
TEST_F(TurnFixture, AskingForPeersIceAgentsOfferDoesNotBlockTheSource) {
  options.block = policy::BlockLimits{5, 60'000'000'000, 300'000'000'000};
  start();
  allocate();
  for (int i = 0; i < 20; ++i)
    for (const char* candidate : {"192.168.2.2:7078", "10.0.0.5:9", "169.254.10.20:5000", "100.64.1.1:4000"})
      EXPECT_EQ(request(stun::Method::create_permission, peer(candidate)).error_code(), 403) << candidate;
  EXPECT_EQ(request(stun::Method::channel_bind, channel(0x4000, "192.168.2.2:7078")).error_code(), 403);
  EXPECT_EQ(server->counters().source_blocks, 0u);
  EXPECT_EQ(request(stun::Method::create_permission, peer("8.8.8.8:1")).error_code(), 0);
}

// What no ICE agent offers (RFC 8445 §5.1.1.1) and no caller can be: loopback, this host's
// other addresses, multicast, "this network". Asking for those is probing the relay's host.
TEST_F(TurnFixture, ProbingTheRelayHostBlocksTheSource) {
  options.block = policy::BlockLimits{5, 60'000'000'000, 300'000'000'000};
  start();
  allocate();
  for (const char* probe : {"127.0.0.1:22", "0.1.2.3:80", "224.0.0.251:5353"})
    EXPECT_EQ(request(stun::Method::create_permission, peer(probe)).error_code(), 403) << probe;
  EXPECT_EQ(request(stun::Method::channel_bind, channel(0x4000, "127.0.0.1:6379")).error_code(), 403);
  EXPECT_EQ(server->counters().source_blocks, 0u);
  EXPECT_EQ(request(stun::Method::create_permission, peer("127.255.255.254:8080")).error_code(), 403);
  EXPECT_EQ(server->counters().source_blocks, 1u);
  EXPECT_TRUE(deliver(test::build(stun::Method::create_permission, stun::Class::request, test::random_tid(),
                                  peer("8.8.8.8:1"), nullptr))
                  .empty());
}
