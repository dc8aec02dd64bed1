// RFC 8656 §9 and §11: CreatePermission and ChannelBind.
#include "../../support/turn_fixture.hpp"

using namespace hush;
using hush::test::TurnFixture;
namespace attr = stun::attr;

TEST_F(TurnFixture, CreatePermissionNeedsAnAllocationAndAPeer) {
  EXPECT_EQ(request(stun::Method::create_permission, peer("8.8.8.8:1")).error_code(), 437);
  allocate();
  EXPECT_EQ(request(stun::Method::create_permission, {}).error_code(), 400);
  EXPECT_EQ(request(stun::Method::create_permission, peer("[2a00::1]:1")).error_code(), 443);
  EXPECT_EQ(request(stun::Method::create_permission, peer("8.8.8.8:1")).error_code(), 0);
}

TEST_F(TurnFixture, CreatePermissionToAForbiddenPeerGets403AndInstallsNothing) {
  allocate();
  auto r = request(stun::Method::create_permission, [](auto& b) {
    b.add_xor_address(attr::xor_peer_address, *Endpoint::parse("8.8.8.8:1"));
    b.add_xor_address(attr::xor_peer_address, *Endpoint::parse("169.254.169.254:80"));
  });
  EXPECT_EQ(r.error_code(), 403);
  EXPECT_EQ(server->find(turn::FiveTuple{0, client})->permissions.size(), 0u);
  EXPECT_EQ(request(stun::Method::create_permission, peer("127.0.0.1:3478")).error_code(), 403);  // the relay host
}

TEST_F(TurnFixture, CreatePermissionInstallsSeveralPeersAndTheyExpire) {
  allocate();
  auto r = request(stun::Method::create_permission, [](auto& b) {
    b.add_xor_address(attr::xor_peer_address, *Endpoint::parse("8.8.8.8:1"));
    b.add_xor_address(attr::xor_peer_address, *Endpoint::parse("9.9.9.9:1"));
  });
  EXPECT_EQ(r.error_code(), 0);
  const auto* a = server->find(turn::FiveTuple{0, client});
  EXPECT_TRUE(a->permissions.contains(*IpAddress::parse("8.8.8.8"), now.mono));
  EXPECT_TRUE(a->permissions.contains(*IpAddress::parse("9.9.9.9"), now.mono));
  advance(std::chrono::seconds(301));
  EXPECT_FALSE(a->permissions.contains(*IpAddress::parse("8.8.8.8"), now.mono));
  EXPECT_EQ(a->permissions.size(), 0u);  // purged by the timer
}

TEST_F(TurnFixture, TooManyPermissionsGet508) {
  options.max_permissions = 2;
  start();
  allocate();
  EXPECT_EQ(request(stun::Method::create_permission, peer("8.8.8.1:1")).error_code(), 0);
  EXPECT_EQ(request(stun::Method::create_permission, peer("8.8.8.2:1")).error_code(), 0);
  EXPECT_EQ(request(stun::Method::create_permission, peer("8.8.8.3:1")).error_code(), 508);
  EXPECT_EQ(request(stun::Method::create_permission, peer("8.8.8.1:9")).error_code(), 0);  // refresh
}

TEST_F(TurnFixture, RetransmittedCreatePermissionIsAnsweredFromTheCache) {
  allocate();
  auto tid = test::random_tid();
  auto a = request(stun::Method::create_permission, peer("8.8.8.8:1"), client, true, tid);
  auto b = request(stun::Method::create_permission, peer("8.8.8.8:1"), client, true, tid);
  EXPECT_EQ(a.bytes, b.bytes);
}

TEST_F(TurnFixture, ChannelBindValidatesNumberAndPeer) {
  allocate();
  EXPECT_EQ(request(stun::Method::channel_bind, channel(0x3FFF, "8.8.8.8:1")).error_code(), 400);
  EXPECT_EQ(request(stun::Method::channel_bind, channel(0x8000, "8.8.8.8:1")).error_code(), 400);
  EXPECT_EQ(request(stun::Method::channel_bind, peer("8.8.8.8:1")).error_code(), 400);  // no CHANNEL-NUMBER
  EXPECT_EQ(request(stun::Method::channel_bind, [](auto& b) { b.add_u32(attr::channel_number, 0x40000000u); })
                .error_code(),
            400);  // no XOR-PEER-ADDRESS
  EXPECT_EQ(request(stun::Method::channel_bind, channel(0x4000, "10.0.0.1:1")).error_code(), 403);
  EXPECT_EQ(request(stun::Method::channel_bind, channel(0x4000, "[2a00::1]:1")).error_code(), 443);
  EXPECT_EQ(request(stun::Method::channel_bind, channel(0x4000, "8.8.8.8:1")).error_code(), 0);
}

TEST_F(TurnFixture, ChannelRebindingRules) {
  allocate();
  ASSERT_EQ(request(stun::Method::channel_bind, channel(0x4001, "8.8.8.8:1000")).error_code(), 0);
  EXPECT_EQ(request(stun::Method::channel_bind, channel(0x4001, "8.8.8.8:1000")).error_code(), 0);  // refresh
  EXPECT_EQ(request(stun::Method::channel_bind, channel(0x4001, "8.8.8.8:1001")).error_code(), 400);  // other peer
  EXPECT_EQ(request(stun::Method::channel_bind, channel(0x4002, "8.8.8.8:1000")).error_code(), 400);  // other channel
  EXPECT_EQ(request(stun::Method::channel_bind, channel(0x4002, "8.8.8.8:1001")).error_code(), 0);
  // ChannelBind installs the permission too.
  EXPECT_TRUE(server->find(turn::FiveTuple{0, client})->permissions.contains(*IpAddress::parse("8.8.8.8"), now.mono));
  // After expiry the channel number is free again.
  EXPECT_EQ(request(stun::Method::refresh, [](auto& b) { b.add_u32(attr::lifetime, 3600); }).error_code(), 0);
  advance(std::chrono::seconds(601));
  EXPECT_EQ(request(stun::Method::channel_bind, channel(0x4001, "9.9.9.9:1")).error_code(), 0);
}

TEST_F(TurnFixture, RelayOnlyCallBetweenTwoUsersOfThisRelayIsAllowed) {
  allocate();
  auto bob = *Endpoint::parse("192.0.2.2:5000");
  allocate(bob);
  const auto* b = server->find(turn::FiveTuple{0, bob});
  const std::string bob_relayed = b->relay_v4->local.to_string();
  EXPECT_EQ(request(stun::Method::create_permission, peer(bob_relayed.c_str())).error_code(), 0);
  EXPECT_EQ(request(stun::Method::channel_bind, channel(0x4001, bob_relayed.c_str())).error_code(), 0);
  EXPECT_EQ(request(stun::Method::channel_bind, channel(0x4002, "198.51.100.7:49999")).error_code(), 403);  // no allocation
}
