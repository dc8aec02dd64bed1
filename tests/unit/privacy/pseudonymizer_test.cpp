// Log pseudonyms: stable for a period, unlinkable after rotation, never the value itself.
#include <gtest/gtest.h>

#include <regex>

#include "hush/privacy/pseudonymizer.hpp"

using namespace hush;
using Clock = privacy::Pseudonymizer::Clock;

TEST(Pseudonymizer, StableWithinThePeriodDifferentPerSourceAndKind) {
  privacy::Pseudonymizer p(std::chrono::hours(24));
  const auto t0 = Clock::time_point{} + std::chrono::hours(1);
  const auto a = *IpAddress::parse("198.51.100.23");
  const auto b = *IpAddress::parse("198.51.100.24");
  const std::string pa = p.source(a, t0);
  EXPECT_TRUE(std::regex_match(pa, std::regex("s-[a-z2-7]{12}"))) << pa;
  EXPECT_EQ(p.source(a, t0 + std::chrono::hours(23)), pa);
  EXPECT_NE(p.source(b, t0), pa);
  EXPECT_EQ(pa.find("198"), std::string::npos);
  const std::string u = p.user("1800000000:alice", t0);
  EXPECT_TRUE(std::regex_match(u, std::regex("u-[a-z2-7]{12}"))) << u;
  EXPECT_EQ(p.user("1800000000:alice", t0), u);
  // An address and a username with the same bytes still get different pseudonyms.
  const std::string raw(reinterpret_cast<const char*>(a.data()), a.size());
  EXPECT_NE(p.user(raw, t0).substr(2), pa.substr(2));
}

TEST(Pseudonymizer, RotationMakesTheNextDayUnlinkable) {
  privacy::Pseudonymizer p(std::chrono::hours(24));
  const auto t0 = Clock::time_point{} + std::chrono::hours(1);
  const auto a = *IpAddress::parse("2001:db8::1");
  const std::string day1 = p.source(a, t0);
  const std::string day2 = p.source(a, t0 + std::chrono::hours(24));
  EXPECT_NE(day1, day2);
  EXPECT_EQ(p.source(a, t0 + std::chrono::hours(25)), day2);
  // Another process (another key) never agrees.
  privacy::Pseudonymizer other;
  EXPECT_NE(other.source(a, t0), day1);
}
