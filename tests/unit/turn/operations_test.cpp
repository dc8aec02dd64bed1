// What operators steer: draining, ALTERNATE-SERVER redirection (RFC 8489 §10), quotas in
// total and per source address, the per-allocation bandwidth cap, reloaded options, and the
// numbers metrics reads (gauges, the lifetime histogram).
#include "../../support/turn_fixture.hpp"

using namespace hush;
using hush::test::TurnFixture;
namespace attr = stun::attr;

namespace {
const Endpoint kOther = *Endpoint::parse("192.0.2.50:40000");
const Endpoint kAlternate4 = *Endpoint::parse("203.0.113.9:3478");
const Endpoint kAlternate6 = *Endpoint::parse("[2001:db8::9]:3478");
}  // namespace

TEST_F(TurnFixture, DrainingRefusesNewAllocationsWith508AndKeepsExistingOnesWorking) {
  auto handle = allocate();
  ASSERT_EQ(request(stun::Method::channel_bind, channel(0x4000, "8.8.8.8:7000")).error_code(), 0);
  server->set_draining(true);
  EXPECT_EQ(request(stun::Method::allocate, test::udp_transport(), kOther).error_code(), 508);
  EXPECT_EQ(server->counters().refusals[static_cast<std::size_t>(turn::Refusal::draining)], 1u);
  // The existing call refreshes and relays both ways.
  EXPECT_EQ(request(stun::Method::refresh, [](auto& b) { b.add_u32(attr::lifetime, 600); }).error_code(), 0);
  EXPECT_EQ(deliver(test::channel_data(0x4000, "media")).size(), 1u);
  EXPECT_EQ(from_peer(handle, *Endpoint::parse("8.8.8.8:7000"), "media").size(), 1u);
  server->set_draining(false);
  EXPECT_EQ(request(stun::Method::allocate, test::udp_transport(), kOther).error_code(), 0);
}

TEST_F(TurnFixture, DrainingWithAnAlternateAnswers300WithAlternateServerOfTheClientsFamily) {
  options.alternate_servers = {kAlternate6, kAlternate4};
  start();
  server->set_draining(true);
  auto r = request(stun::Method::allocate, test::udp_transport());
  ASSERT_EQ(r.error_code(), 300);
  auto m = r.msg();
  EXPECT_EQ(stun::decode_plain_address(*m->find(attr::alternate_server)), kAlternate4);
  // Integrity-protected like the request, so an attacker cannot forge the redirection.
  EXPECT_TRUE(m->verify_integrity(stun::long_term_key(username, realm, auth::rest_password(secret, username))));
  EXPECT_EQ(server->counters().allocations_redirected, 1u);
  EXPECT_EQ(server->allocation_count(), 0u);
}

TEST_F(TurnFixture, TotalQuotaRefusesWith508ThenRedirectsOnceAnAlternateIsSet) {
  limits.total = 1;
  start();
  allocate();
  EXPECT_EQ(request(stun::Method::allocate, test::udp_transport(), kOther).error_code(), 508);
  options.alternate_servers = {kAlternate4};
  server->set_options(options);
  EXPECT_EQ(request(stun::Method::allocate, test::udp_transport(), kOther).error_code(), 300);
  // Deleting the first allocation makes room again.
  EXPECT_EQ(request(stun::Method::refresh, [](auto& b) { b.add_u32(attr::lifetime, 0); }).error_code(), 0);
  EXPECT_EQ(quota->total(), 0u);
  EXPECT_EQ(request(stun::Method::allocate, test::udp_transport(), kOther).error_code(), 0);
}

TEST_F(TurnFixture, SourceQuotaCountsAllocationsPerClientAddress) {
  limits.per_source = 2;
  start();
  allocate(*Endpoint::parse("192.0.2.1:1"));
  allocate(*Endpoint::parse("192.0.2.1:2"));
  EXPECT_EQ(request(stun::Method::allocate, test::udp_transport(), *Endpoint::parse("192.0.2.1:3")).error_code(), 486);
  EXPECT_EQ(server->counters().refusals[static_cast<std::size_t>(turn::Refusal::over_source)], 1u);
  allocate(*Endpoint::parse("192.0.2.2:1"));  // another address is not affected
  advance(std::chrono::seconds(601));  // both expire: the address may allocate again
  allocate(*Endpoint::parse("192.0.2.1:3"));
}

TEST_F(TurnFixture, BandwidthCapDropsWhatExceedsTheBucketAndRefillsOverTime) {
  options.bandwidth_cap = 10000;  // bytes per second; bursts up to 128 KiB
  start();
  auto handle = allocate();
  ASSERT_EQ(request(stun::Method::channel_bind, channel(0x4000, "8.8.8.8:7000")).error_code(), 0);
  const std::string payload(1000, 'x');
  int passed = 0;
  for (int i = 0; i < 300; ++i) passed += static_cast<int>(deliver(test::channel_data(0x4000, payload)).size());
  EXPECT_EQ(passed, 131);  // 131072 / 1000
  EXPECT_EQ(server->counters().dropped(turn::Drop::bandwidth), 169u);
  // The other direction has its own bucket.
  EXPECT_EQ(from_peer(handle, *Endpoint::parse("8.8.8.8:7000"), payload).size(), 1u);
  now.mono += std::chrono::seconds(1);  // 10,000 bytes more: 10 packets (plus the 72 left)
  passed = 0;
  for (int i = 0; i < 50; ++i) passed += static_cast<int>(deliver(test::channel_data(0x4000, payload)).size());
  EXPECT_EQ(passed, 10);
}

TEST_F(TurnFixture, WithoutACapNothingIsDroppedForBandwidth) {
  allocate();
  ASSERT_EQ(request(stun::Method::channel_bind, channel(0x4000, "8.8.8.8:7000")).error_code(), 0);
  const std::string payload(1200, 'x');
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(deliver(test::channel_data(0x4000, payload)).size(), 1u);
  EXPECT_EQ(server->counters().dropped(turn::Drop::bandwidth), 0u);
}

TEST_F(TurnFixture, GaugesCountWhatIsAliveByFamily) {
  options.relay_v6 = true;
  start();
  ASSERT_EQ(request(stun::Method::allocate, [](auto& b) {
              test::udp_transport()(b);
              b.add_u32(attr::additional_address_family, 0x02u << 24);
            }).error_code(), 0);
  ASSERT_EQ(request(stun::Method::create_permission, peer("8.8.8.8:1")).error_code(), 0);
  ASSERT_EQ(request(stun::Method::create_permission, peer("[2001:4860::8888]:1")).error_code(), 0);
  ASSERT_EQ(request(stun::Method::channel_bind, channel(0x4000, "9.9.9.9:7000")).error_code(), 0);
  auto g = server->gauges(now.mono);
  EXPECT_EQ(g.allocations, 1u);
  EXPECT_EQ(g.relayed_addresses[0], 1u);
  EXPECT_EQ(g.relayed_addresses[1], 1u);
  EXPECT_EQ(g.permissions[0], 2u);  // 8.8.8.8 and the channel's 9.9.9.9
  EXPECT_EQ(g.permissions[1], 1u);
  EXPECT_EQ(g.channels[0], 1u);
  // Permissions last 300 s, the channel 600 s, the allocation 600 s.
  EXPECT_EQ(server->gauges(now.mono + std::chrono::seconds(301)).permissions[0], 0u);
  EXPECT_EQ(server->gauges(now.mono + std::chrono::seconds(301)).channels[0], 1u);
}

TEST_F(TurnFixture, LifetimeHistogramObservesExpiryAndDeletion) {
  allocate();
  advance(std::chrono::seconds(5));
  allocate(kOther);
  advance(std::chrono::seconds(5));
  // Deleted by its client after 5 s: the 10 s bucket.
  EXPECT_EQ(request(stun::Method::refresh, [](auto& b) { b.add_u32(attr::lifetime, 0); }, kOther).error_code(), 0);
  advance(std::chrono::seconds(600));  // the first expires, 610 s after it was made
  const auto& c = server->counters();
  EXPECT_EQ(c.lifetime_buckets[0], 1u);  // <= 10 s
  EXPECT_EQ(c.lifetime_buckets[4], 1u);  // <= 1800 s
  EXPECT_DOUBLE_EQ(c.lifetime_seconds_sum, 5.0 + 610.0);
  EXPECT_EQ(c.allocations_deleted, 1u);
  EXPECT_EQ(c.allocations_expired, 1u);
}

TEST_F(TurnFixture, ReloadedOptionsApplyToTheNextRequestAndKeepTheRelayFamilies) {
  allocate();
  auto next = options;
  next.max_lifetime = turn::Seconds{900};
  next.relay_v4 = false;  // fixed at start: a reload cannot switch off a family in use
  server->set_options(next);
  auto r = request(stun::Method::refresh, [](auto& b) { b.add_u32(attr::lifetime, 3000); });
  EXPECT_EQ(r.msg()->find_u32(attr::lifetime), 900u);
  EXPECT_EQ(request(stun::Method::allocate, test::udp_transport(), kOther).error_code(), 0);
}

TEST(Quotas, LimitsChangeLiveAndReleaseForgetsAddresses) {
  turn::Quotas q(turn::QuotaLimits{3, 2, 0});
  const auto a = *IpAddress::parse("192.0.2.1");
  EXPECT_EQ(q.acquire("u", a), turn::QuotaResult::ok);
  EXPECT_EQ(q.acquire("u", a), turn::QuotaResult::ok);
  EXPECT_EQ(q.acquire("u", a), turn::QuotaResult::over_user);
  EXPECT_EQ(q.acquire("v", a), turn::QuotaResult::ok);
  EXPECT_TRUE(q.full());
  EXPECT_EQ(q.acquire("w", a), turn::QuotaResult::over_total);
  q.set_limits(turn::QuotaLimits{0, 0, 3});
  EXPECT_FALSE(q.full());
  EXPECT_EQ(q.acquire("w", a), turn::QuotaResult::over_source);
  q.release("u", a);
  EXPECT_EQ(q.acquire("w", a), turn::QuotaResult::ok);
  for (const char* u : {"u", "v", "w"}) q.release(u, a);
  EXPECT_EQ(q.total(), 0u);
  q.release("nobody", a);  // never below zero
  EXPECT_EQ(q.total(), 0u);
}

namespace {
struct RecordingSink : turn::EventSink {
  std::vector<std::string> lines;
  void on_event(const turn::Event& e) override {
    lines.push_back(std::to_string(static_cast<int>(e.kind)) + " " + std::string(e.reason) + " " +
                    e.client.to_string() + " " + std::string(e.username));
  }
};
}  // namespace

TEST_F(TurnFixture, EventsReportAllocationsRefusalsAndFailedAuthenticationNeverPackets) {
  RecordingSink sink;
  limits.per_source = 1;
  start();
  server->set_event_sink(&sink);
  const auto handle = allocate();
  ASSERT_EQ(request(stun::Method::channel_bind, channel(0x4000, "8.8.8.8:7000")).error_code(), 0);
  for (int i = 0; i < 100; ++i) {  // relayed packets are not events
    deliver(test::channel_data(0x4000, "media"));
    from_peer(handle, *Endpoint::parse("8.8.8.8:7000"), "media");
  }
  EXPECT_EQ(request(stun::Method::allocate, test::udp_transport(), *Endpoint::parse("192.0.2.1:2")).error_code(), 486);
  auto wrong = creds(kOther);
  wrong.password = "wrong";
  deliver(test::build(stun::Method::allocate, stun::Class::request, test::random_tid(), test::udp_transport(), &wrong),
          kOther);
  advance(std::chrono::seconds(601));
  ASSERT_EQ(sink.lines.size(), 4u);
  EXPECT_EQ(sink.lines[0], "0  192.0.2.1:40000 " + username);            // created
  EXPECT_EQ(sink.lines[1], "3 over_source 192.0.2.1:2 " + username);     // refused
  EXPECT_EQ(sink.lines[2], "4 bad_integrity 192.0.2.50:40000 " + username);  // authentication failed
  EXPECT_EQ(sink.lines[3], "1  192.0.2.1:40000 " + username);            // expired
}

// A step of the wall clock (NTP after a suspend, an operator's date command) moves what is
// measured in unix time, credential and nonce expiry, and nothing else: lifetimes,
// permissions and channels run on the monotonic clock, so calls go on across it.
TEST_F(TurnFixture, AWallClockStepMovesCredentialExpiryButNotCalls) {
  allocate();
  ASSERT_EQ(request(stun::Method::channel_bind, channel(0x4001, "8.8.8.8:7000")).error_code(), 0);
  const std::int64_t before = now.unix;
  now.unix += 2 * 86400;  // forward, past the credential's expiry (one day)
  EXPECT_EQ(request(stun::Method::refresh, {}).error_code(), 401);  // expired credential
  EXPECT_EQ(deliver(test::channel_data(0x4001, "media")).size(), 1u);  // the call relays
  EXPECT_EQ(server->allocation_count(), 1u);
  now.unix = before - 3600;  // and back, before it was: the credential is valid again
  EXPECT_EQ(request(stun::Method::refresh, {}).error_code(), 0);
  EXPECT_EQ(deliver(test::channel_data(0x4001, "media")).size(), 1u);
  // The monotonic clock alone ends the allocation.
  advance(std::chrono::seconds(601));
  EXPECT_EQ(server->allocation_count(), 0u);
}
