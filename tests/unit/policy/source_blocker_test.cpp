// fail2ban without a log: blocks by source prefix, in bounded memory, for a while.
#include <gtest/gtest.h>

#include "hush/policy/source_blocker.hpp"

using namespace hush;

namespace {
constexpr std::int64_t kSecond = 1'000'000'000;
IpAddress ip(const char* s) { return *IpAddress::parse(s); }
policy::BlockLimits limits(unsigned strikes, std::size_t slots = 16384) {
  return policy::BlockLimits{strikes, 60 * kSecond, 300 * kSecond, slots};
}
}  // namespace

TEST(SourceBlocker, BlocksAfterTheThresholdWithinTheWindowAndForItsDuration) {
  policy::SourceBlocker b(limits(3));
  const auto a = ip("192.0.2.1");
  EXPECT_FALSE(b.strike(a, 0));
  EXPECT_FALSE(b.strike(a, 1 * kSecond));
  EXPECT_FALSE(b.blocked(a, 2 * kSecond));
  EXPECT_TRUE(b.strike(a, 2 * kSecond));  // the third: a block starts
  EXPECT_TRUE(b.blocked(a, 2 * kSecond));
  EXPECT_FALSE(b.strike(a, 3 * kSecond));  // no second block while one runs
  EXPECT_TRUE(b.blocked(a, 301 * kSecond));
  EXPECT_FALSE(b.blocked(a, 302 * kSecond));  // over
  // Afterwards it starts from nothing.
  EXPECT_FALSE(b.strike(a, 303 * kSecond));
  EXPECT_FALSE(b.strike(a, 304 * kSecond));
  EXPECT_FALSE(b.blocked(a, 305 * kSecond));
}

TEST(SourceBlocker, FailuresSpreadWiderThanTheWindowNeverBlock) {
  policy::SourceBlocker b(limits(3));
  const auto a = ip("192.0.2.1");
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(b.strike(a, i * 30 * kSecond)) << i;  // two per minute
  EXPECT_FALSE(b.blocked(a, 3000 * kSecond));
}

TEST(SourceBlocker, CountsIpv4AddressesAloneAndIpv6By64) {
  policy::SourceBlocker b(limits(2));
  b.strike(ip("192.0.2.1"), 0);
  b.strike(ip("192.0.2.1"), 0);
  EXPECT_TRUE(b.blocked(ip("192.0.2.1"), 0));
  EXPECT_FALSE(b.blocked(ip("192.0.2.2"), 0));  // a NAT neighbour is not punished
  b.strike(ip("2001:db8:1:2::1"), 0);
  b.strike(ip("2001:db8:1:2:ffff::9"), 0);  // same /64, another address
  EXPECT_TRUE(b.blocked(ip("2001:db8:1:2::77"), 0));
  EXPECT_FALSE(b.blocked(ip("2001:db8:1:3::1"), 0));
  EXPECT_FALSE(b.blocked(ip("::ffff:192.0.2.1"), 0));  // another family, another key
}

TEST(SourceBlocker, ACollisionNeverBlocksAnotherAndNeverLiftsABlock) {
  policy::SourceBlocker b(limits(2, 1));  // one slot: everyone collides
  const auto attacker = ip("198.51.100.1"), other = ip("203.0.113.9");
  b.strike(attacker, 0);
  b.strike(attacker, 0);
  EXPECT_TRUE(b.blocked(attacker, 0));
  EXPECT_FALSE(b.blocked(other, 0));
  for (int i = 0; i < 10; ++i) EXPECT_FALSE(b.strike(other, 0));  // the slot keeps the block
  EXPECT_TRUE(b.blocked(attacker, 0));
  EXPECT_FALSE(b.blocked(other, 0));
}

TEST(SourceBlocker, ZeroStrikesTurnsItOff) {
  policy::SourceBlocker b(limits(0));
  for (int i = 0; i < 1000; ++i) EXPECT_FALSE(b.strike(ip("192.0.2.1"), 0));
  EXPECT_FALSE(b.blocked(ip("192.0.2.1"), 0));
}

// A flood from many sources at once, far more than a set holds: each one that keeps failing is
// blocked after its own failures, however its neighbours in the table come and go. Where a
// prefix lands depends on the process's random hash key; at half the table's 16,384 slots
// every source is counted, at three quarters all but a few in ten thousand at worst.
std::uint32_t blocked_of(std::uint32_t sources) {
  policy::SourceBlocker b(limits(20));
  std::uint32_t blocks = 0;
  for (int round = 0; round < 20; ++round)
    for (std::uint32_t i = 0; i < sources; ++i) blocks += b.strike(IpAddress::v4(0x0A000000u + i), round);
  std::uint32_t blocked = 0;
  for (std::uint32_t i = 0; i < sources; ++i) blocked += b.blocked(IpAddress::v4(0x0A000000u + i), 20);
  EXPECT_EQ(blocks, blocked);
  return blocked;
}

TEST(SourceBlocker, ManySourcesAtOnceAreEachBlockedAfterTheirOwnFailures) {
  EXPECT_EQ(blocked_of(8192), 8192u);
  EXPECT_GE(blocked_of(12000), 11988u);  // 99.9%
}

// One set (eight slots): newcomers take the slots of sources with fewer failures, so a source
// that keeps failing among many that fail once is still counted and blocked.
TEST(SourceBlocker, APersistentSourceOutlastsOneTimeFailuresInItsSet) {
  policy::SourceBlocker b(limits(5, 8));
  const auto attacker = ip("198.51.100.1");
  bool blocked = false;
  for (std::uint32_t i = 0; i < 5; ++i) {
    for (std::uint32_t k = 0; k < 7; ++k) b.strike(IpAddress::v4(0xC0000200u + i * 7 + k), 0);  // 7 newcomers
    blocked = b.strike(attacker, 0);
  }
  EXPECT_TRUE(blocked);
  EXPECT_TRUE(b.blocked(attacker, 0));
}
