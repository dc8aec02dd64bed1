// --kernel-fastpath in the core: which channels the kernel gets, and when they leave it. The
// kernel itself is tested in tests/integration/kernel_fastpath_test.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "../../support/turn_fixture.hpp"

namespace hush {
namespace {

namespace attr = stun::attr;
using test::TurnFixture;

class FakeKernel : public turn::KernelPath {
 public:
  std::vector<turn::KernelFlow> flows;
  std::vector<Endpoint> closed;
  std::size_t capacity = 100;
  std::size_t refused = 0;
  bool install(const turn::KernelFlow& f) override {
    EXPECT_EQ(std::count(flows.begin(), flows.end(), f), 0) << "installed twice";
    if (flows.size() >= capacity) {
      ++refused;
      return false;
    }
    flows.push_back(f);
    return true;
  }
  void remove(const turn::KernelFlow& f) override {
    auto it = std::find(flows.begin(), flows.end(), f);
    ASSERT_NE(it, flows.end()) << "removed a flow that was not installed";
    flows.erase(it);
  }
  void relay_closed(const Endpoint& relay) override { closed.push_back(relay); }
};

class KernelPathTest : public TurnFixture {
 protected:
  FakeKernel kernel;
  const Endpoint server_address = *Endpoint::parse("203.0.113.1:3478");
  void SetUp() override { restart(); }
  void TearDown() override { server.reset(); }  // it removes its flows from `kernel` on the way
  void restart(std::vector<const char*> allow = {}) {
    server.reset();  // before start() replaces the quotas it releases into
    start(0, std::move(allow));
    server->set_kernel_path(&kernel, {server_address});
  }
  void allocate_for_an_hour() {
    allocate();
    request(stun::Method::refresh, [](auto& b) { b.add_u32(attr::lifetime, 3600); });
  }
};

TEST_F(KernelPathTest, ABoundChannelGoesToTheKernelWithEveryAddress) {
  allocate_for_an_hour();
  ASSERT_EQ(request(stun::Method::channel_bind, channel(0x4321, "8.8.8.8:7000")).error_code(), 0);
  ASSERT_EQ(kernel.flows.size(), 1u);
  const auto& f = kernel.flows[0];
  EXPECT_EQ(f.client, client);
  EXPECT_EQ(f.server, server_address);
  EXPECT_EQ(f.channel, 0x4321);
  EXPECT_EQ(f.relay, server->find(turn::FiveTuple{listener, client})->relay_v4->local);
  EXPECT_EQ(f.peer, *Endpoint::parse("8.8.8.8:7000"));
  // A refresh of the binding changes nothing; a permission alone installs nothing.
  ASSERT_EQ(request(stun::Method::channel_bind, channel(0x4321, "8.8.8.8:7000")).error_code(), 0);
  ASSERT_EQ(request(stun::Method::create_permission, peer("9.9.9.9:1")).error_code(), 0);
  EXPECT_EQ(kernel.flows.size(), 1u);
}

// A channel that crosses families (an IPv4 client with an IPv6 relayed address, RFC 8656
// §7.2) goes into the kernel like any other, which changes the IP version on the way: the flow
// pairs the client with its IPv4 listener and the IPv6 peer with the IPv6 relayed address.
TEST_F(KernelPathTest, AChannelAcrossAddressFamiliesIsInstalledWithEachSideInItsFamily) {
  options.relay_v6 = true;
  restart();
  ASSERT_EQ(request(stun::Method::allocate, [](auto& b) {
              test::udp_transport()(b);
              b.add_u32(attr::additional_address_family, 0x02u << 24);
              b.add_u32(attr::lifetime, 3600);
            }).error_code(),
            0);
  ASSERT_EQ(request(stun::Method::channel_bind, channel(0x4001, "[2001:4860:4860::8888]:7000")).error_code(), 0);
  ASSERT_EQ(kernel.flows.size(), 1u);
  const turn::Allocation* a = server->find(turn::FiveTuple{listener, client});
  ASSERT_NE(a, nullptr);
  ASSERT_TRUE(a->relay_v6.has_value());
  EXPECT_EQ(kernel.flows[0].channel, 0x4001);
  EXPECT_EQ(kernel.flows[0].client, client);
  EXPECT_EQ(kernel.flows[0].server, server_address);
  EXPECT_EQ(kernel.flows[0].relay, a->relay_v6->local);
  EXPECT_EQ(kernel.flows[0].peer, *Endpoint::parse("[2001:4860:4860::8888]:7000"));
  ASSERT_EQ(request(stun::Method::channel_bind, channel(0x4002, "8.8.8.8:7000")).error_code(), 0);
  ASSERT_EQ(kernel.flows.size(), 2u);
  EXPECT_EQ(kernel.flows[1].relay, a->relay_v4->local);
}

TEST_F(KernelPathTest, ADeniedPeerIsNeverInstalled) {
  allocate_for_an_hour();
  EXPECT_EQ(request(stun::Method::channel_bind, channel(0x4001, "127.0.0.1:7000")).error_code(), 403);
  EXPECT_EQ(request(stun::Method::channel_bind, channel(0x4002, "10.1.2.3:7000")).error_code(), 403);
  EXPECT_TRUE(kernel.flows.empty());
}

TEST_F(KernelPathTest, TheFlowLeavesWhenItsPermissionExpiresAndReturnsWithANewOne) {
  allocate_for_an_hour();
  ASSERT_EQ(request(stun::Method::channel_bind, channel(0x4001, "8.8.8.8:7000")).error_code(), 0);
  advance(std::chrono::seconds(299));
  EXPECT_EQ(kernel.flows.size(), 1u);
  advance(std::chrono::seconds(2));  // the permission (300 s) is gone, the channel (600 s) is not
  EXPECT_TRUE(kernel.flows.empty());
  ASSERT_EQ(request(stun::Method::create_permission, peer("8.8.8.8:1")).error_code(), 0);
  EXPECT_EQ(kernel.flows.size(), 1u);
}

TEST_F(KernelPathTest, TheFlowLeavesWhenItsChannelExpiresThoughThePermissionLives) {
  allocate_for_an_hour();
  ASSERT_EQ(request(stun::Method::channel_bind, channel(0x4001, "8.8.8.8:7000")).error_code(), 0);
  for (int i = 0; i < 3; ++i) {
    advance(std::chrono::seconds(150));
    ASSERT_EQ(request(stun::Method::create_permission, peer("8.8.8.8:1")).error_code(), 0);
  }
  advance(std::chrono::seconds(149));
  EXPECT_EQ(kernel.flows.size(), 1u);  // the channel ends at 600 s
  advance(std::chrono::seconds(1));
  EXPECT_TRUE(kernel.flows.empty());
}

TEST_F(KernelPathTest, DeletingTheAllocationRemovesItsFlowsAndClosesItsRelayedAddress) {
  allocate_for_an_hour();
  ASSERT_EQ(request(stun::Method::channel_bind, channel(0x4001, "8.8.8.8:7000")).error_code(), 0);
  ASSERT_EQ(request(stun::Method::channel_bind, channel(0x4002, "8.8.4.4:7000")).error_code(), 0);
  EXPECT_EQ(kernel.flows.size(), 2u);
  const Endpoint relay = server->find(turn::FiveTuple{listener, client})->relay_v4->local;
  request(stun::Method::refresh, [](auto& b) { b.add_u32(attr::lifetime, 0); });
  EXPECT_TRUE(kernel.flows.empty());
  ASSERT_EQ(kernel.closed.size(), 1u);
  EXPECT_EQ(kernel.closed[0], relay);
}

TEST_F(KernelPathTest, OnlyUdpClientsGoToTheKernel) {
  listener = turn::kTlsListenerBase;
  allocate_for_an_hour();
  ASSERT_EQ(request(stun::Method::channel_bind, channel(0x4001, "8.8.8.8:7000")).error_code(), 0);
  listener = turn::kDtlsListenerBase;
  allocate_for_an_hour();
  ASSERT_EQ(request(stun::Method::channel_bind, channel(0x4001, "8.8.8.8:7000")).error_code(), 0);
  EXPECT_TRUE(kernel.flows.empty());
}

TEST_F(KernelPathTest, SmoothingAndABandwidthCapKeepEverythingInUserSpace) {
  options.smoothing = std::chrono::milliseconds(20);
  restart();
  allocate_for_an_hour();
  ASSERT_EQ(request(stun::Method::channel_bind, channel(0x4001, "8.8.8.8:7000")).error_code(), 0);
  EXPECT_TRUE(kernel.flows.empty());

  options.smoothing = {};
  restart();
  allocate_for_an_hour();
  ASSERT_EQ(request(stun::Method::channel_bind, channel(0x4001, "8.8.8.8:7000")).error_code(), 0);
  EXPECT_EQ(kernel.flows.size(), 1u);
  // A reload that sets a cap takes the flows back: the kernel does not count bytes.
  turn::ServerOptions capped = options;
  capped.bandwidth_cap = 100000;
  server->set_options(capped);
  EXPECT_TRUE(kernel.flows.empty());
  advance(std::chrono::seconds(1));
  ASSERT_EQ(request(stun::Method::channel_bind, channel(0x4001, "8.8.8.8:7000")).error_code(), 0);
  EXPECT_TRUE(kernel.flows.empty());
}

TEST_F(KernelPathTest, AFullKernelTableLeavesTheFlowInUserSpaceWhichStillRelaysIt) {
  kernel.capacity = 1;
  allocate_for_an_hour();
  ASSERT_EQ(request(stun::Method::channel_bind, channel(0x4001, "8.8.8.8:7000")).error_code(), 0);
  ASSERT_EQ(request(stun::Method::channel_bind, channel(0x4002, "8.8.4.4:7000")).error_code(), 0);
  EXPECT_EQ(kernel.flows.size(), 1u);
  EXPECT_EQ(kernel.refused, 1u);
  // The refused channel relays in user space as before.
  EXPECT_EQ(deliver(test::channel_data(0x4002, "still here")).size(), 1u);
  // Room again: the next change (here a permission refresh) installs it.
  kernel.capacity = 2;
  ASSERT_EQ(request(stun::Method::create_permission, peer("8.8.4.4:1")).error_code(), 0);
  EXPECT_EQ(kernel.flows.size(), 2u);
}

TEST_F(KernelPathTest, AHostPeerLeavesTheKernelWhenThePolicyNoLongerAllowsIt) {
  // A relay-only call: the peer is another allocation's relayed address on this host, allowed
  // only while that address is live.
  restart({"198.51.100.0/24"});
  live.set_live(Family::v4, 50999, true);
  allocate_for_an_hour();
  ASSERT_EQ(request(stun::Method::channel_bind, channel(0x4001, "198.51.100.7:50999")).error_code(), 0);
  EXPECT_EQ(kernel.flows.size(), 1u);
  live.set_live(Family::v4, 50999, false);
  // The next change to the allocation (here a permission for someone else) takes it out, as
  // does the port's release by its own allocation (KernelPath::relay_closed, any worker).
  ASSERT_EQ(request(stun::Method::create_permission, peer("8.8.8.8:1")).error_code(), 0);
  EXPECT_TRUE(kernel.flows.empty());
}

}  // namespace
}  // namespace hush
