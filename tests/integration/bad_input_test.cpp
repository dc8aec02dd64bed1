// Hostile input against the real binary: no crash, bounded memory, other users unaffected,
// no amplification, floods rate-limited.
#include <gtest/gtest.h>

#include "relay_process.hpp"

using namespace hush;
using namespace hush::test;

namespace {

std::size_t drain(UdpSocket& s, std::size_t request_size, std::size_t& oversized) {
  std::size_t n = 0;
  while (auto r = s.receive(std::chrono::milliseconds(200))) {
    ++n;
    if (r->size() > 3 * request_size) ++oversized;
  }
  return n;
}

}  // namespace

TEST(BadInput, MalformedDatagramsAreDroppedAndOthersKeepRelaying) {
  Relay relay({"--threads", "1"});
  LiveCall call(relay);
  ASSERT_TRUE(call.works());

  UdpSocket attacker;
  const Endpoint target = relay.endpoint();
  auto good = build(stun::Method::binding, stun::Class::request, random_tid(), {});
  std::vector<std::vector<std::byte>> junk;
  junk.push_back(std::vector<std::byte>(good.begin(), good.begin() + 10));  // truncated header
  auto overrun = good;
  store_u16(overrun.data() + 2, 400);  // length beyond the datagram
  junk.push_back(overrun);
  auto lying = build(stun::Method::allocate, stun::Class::request, random_tid(), udp_transport());
  store_u16(lying.data() + 22, 0x7FFF);  // attribute length lies
  junk.push_back(lying);
  LongTermAuth a{relay.credential_username(), "hush", "AAAAAAAAAAAAAAAA", "x"};
  auto wrong_range = build(stun::Method::allocate, stun::Class::request, random_tid(), udp_transport(), &a);
  wrong_range[25] ^= std::byte{0xFF};  // integrity no longer covers what was signed
  junk.push_back(wrong_range);
  junk.push_back(std::vector<std::byte>(65507, std::byte{0x00}));  // the largest UDP payload
  std::vector<std::byte> random_bytes(65507);
  auth::random_bytes(random_bytes.data(), random_bytes.size());
  junk.push_back(random_bytes);
  auto bogus_channel = channel_data(0x4000, "x");
  store_u16(bogus_channel.data() + 2, 65535);
  junk.push_back(bogus_channel);
  for (int round = 0; round < 20; ++round)
    for (const auto& j : junk) attacker.send_to(target, j);

  EXPECT_TRUE(relay.process().running());
  EXPECT_TRUE(call.works());
  // A proper request still gets an answer.
  attacker.send_to(target, good);
  std::optional<std::vector<std::byte>> answer;
  while ((answer = attacker.receive(std::chrono::seconds(2)))) {
    auto m = stun::MessageView::parse(*answer);
    if (m && m->message_class() == stun::Class::success) break;
  }
  EXPECT_TRUE(answer);
}

TEST(BadInput, TenThousandBogusAllocatesAreRateLimitedWithBoundedMemory) {
  Relay relay({"--threads", "1"});
  LiveCall call(relay);
  ASSERT_TRUE(call.works());
  const long rss_before = relay.process().rss_kib();

  UdpSocket attacker;
  std::size_t oversized = 0;
  std::size_t answers = 0;
  auto bogus = build(stun::Method::allocate, stun::Class::request, random_tid(), udp_transport());
  for (int i = 0; i < 10000; ++i) {
    bogus = build(stun::Method::allocate, stun::Class::request, random_tid(), udp_transport());
    attacker.send_to(relay.endpoint(), bogus);
    if (i % 500 == 0) answers += drain(attacker, bogus.size(), oversized);
  }
  answers += drain(attacker, bogus.size(), oversized);
  EXPECT_EQ(oversized, 0u);
  // Default --unauth-rate 100/s with a burst of 200 per /24: far fewer answers than requests.
  EXPECT_GT(answers, 0u);
  EXPECT_LT(answers, 2000u);
  EXPECT_TRUE(relay.process().running());
  EXPECT_TRUE(call.works());
  const long rss_after = relay.process().rss_kib();
  EXPECT_LT(rss_after - rss_before, 8 * 1024) << "RSS grew from " << rss_before << " to " << rss_after << " KiB";
}

TEST(BadInput, UnauthenticatedAnswersNeverExceedThreeTimesTheRequest) {
  Relay relay({"--threads", "1", "--realm", "a-rather-long-realm-name.example.org"});
  UdpSocket s;
  std::vector<std::vector<std::byte>> requests = {
      build(stun::Method::binding, stun::Class::request, random_tid(), {}),
      build(stun::Method::allocate, stun::Class::request, random_tid(), {}),
      build(stun::Method::allocate, stun::Class::request, random_tid(), udp_transport()),
      build(stun::Method::refresh, stun::Class::request, random_tid(), {}),
      build(static_cast<stun::Method>(0x0ff), stun::Class::request, random_tid(), {}),
  };
  for (const auto& req : requests) {
    s.send_to(relay.endpoint(), req);
    while (auto r = s.receive(std::chrono::milliseconds(300))) EXPECT_LE(r->size(), 3 * req.size());
  }
}

TEST(Privacy, DebugLogsHoldNoAddressPortOrUsername) {
  Relay relay({"--threads", "2"});  // the test relay always runs with --log-level debug
  {
    LiveCall call(relay);
    ASSERT_TRUE(call.works());
    UdpSocket stranger;
    stranger.send_to(relay.endpoint(), build(stun::Method::allocate, stun::Class::request, random_tid(), udp_transport()));
    (void)stranger.receive(std::chrono::milliseconds(300));
    const std::string out = relay.process().output();
    for (const std::string& secret_bit :
         {call.client.socket().local().to_string(), std::to_string(call.client.socket().local().port),
          call.peer.local().to_string(), std::to_string(call.peer.local().port), call.client.relayed().to_string(),
          std::to_string(call.client.relayed().port), stranger.local().to_string(),
          std::string(":integration")})
      EXPECT_EQ(out.find(secret_bit), std::string::npos) << "log shows " << secret_bit << ":\n" << out;
  }
  EXPECT_EQ(relay.process().stop(), 0);
}
