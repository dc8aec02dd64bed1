// Never an open proxy: default deny ranges, embedded IPv4 forms, the relay host itself.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <map>
#include <vector>

#include "hush/policy/peer_policy.hpp"
#include "hush/policy/rate_limiter.hpp"
#include "hush/policy/special_purpose.hpp"

using namespace hush;
using policy::PeerDecision;

namespace {
Endpoint ep(const char* s) { return *Endpoint::parse(s); }

policy::PeerPolicy make(policy::RelayPortRegistry* live, std::vector<const char*> allow = {},
                        std::vector<const char*> deny = {}) {
  policy::PeerPolicyConfig c;
  for (auto* a : allow) c.allow.push_back(*policy::Cidr::parse(a));
  for (auto* d : deny) c.deny.push_back(*policy::Cidr::parse(d));
  c.relayed_addresses = {*IpAddress::parse("203.0.113.5"), *IpAddress::parse("2001:db8::5")};
  c.host_addresses = {*IpAddress::parse("198.18.0.1"), *IpAddress::parse("2001:db8::9")};
  c.service_ports = {3478, 9100};
  c.relay_port_min = 49152;
  c.relay_port_max = 65535;
  return policy::PeerPolicy(c, live);
}
}  // namespace

TEST(Cidr, ParsesAndContains) {
  auto c = *policy::Cidr::parse("10.1.2.3/8");
  EXPECT_TRUE(c.contains(*IpAddress::parse("10.200.0.1")));
  EXPECT_FALSE(c.contains(*IpAddress::parse("11.0.0.1")));
  EXPECT_FALSE(c.contains(*IpAddress::parse("::a01:203")));
  auto v6 = *policy::Cidr::parse("fc00::/7");
  EXPECT_TRUE(v6.contains(*IpAddress::parse("fdff::1")));
  EXPECT_FALSE(v6.contains(*IpAddress::parse("fe00::1")));
  EXPECT_FALSE(policy::Cidr::parse("10.0.0.0/33"));
  EXPECT_FALSE(policy::Cidr::parse("10.0.0/8"));
  EXPECT_FALSE(policy::Cidr::parse("10.0.0.0/"));
}

TEST(PeerPolicy, PublicPeersAreAllowed) {
  auto p = make(nullptr);
  EXPECT_TRUE(p.allows(ep("8.8.8.8:5000")));
  EXPECT_TRUE(p.allows(ep("[2a00:1450::1]:5000")));
}

TEST(PeerPolicy, DeniesEveryDefaultRange) {
  auto p = make(nullptr);
  for (const char* s : {"0.0.0.0:1", "10.0.0.1:1", "100.64.0.1:1", "127.0.0.1:1", "127.5.5.5:1",
                        "169.254.169.254:80", "172.16.0.1:1", "172.31.255.255:1", "192.168.1.1:1",
                        "192.0.0.8:1", "224.0.0.1:1", "239.255.255.250:1900", "255.255.255.255:1",
                        "240.0.0.1:1", "[::]:1", "[::1]:1", "[fc00::1]:1", "[fd12::1]:1", "[fe80::1]:1",
                        "[ff02::1]:1", "[fec0::1]:1"})
    EXPECT_FALSE(p.allows(ep(s))) << s;
}

TEST(PeerPolicy, DeniesIpv4EmbeddedInIpv6Forms) {
  auto p = make(nullptr);
  for (const char* s : {"[::ffff:127.0.0.1]:1", "[::ffff:8.8.8.8]:1", "[::127.0.0.1]:1", "[::10.0.0.1]:1",
                        "[2002:7f00:1::]:1",          // 6to4 of 127.0.0.1
                        "[2002:a9fe:a9fe::1]:80",     // 6to4 of 169.254.169.254
                        "[64:ff9b::a00:1]:1",         // NAT64 of 10.0.0.1
                        "[64:ff9b::169.254.169.254]:80",
                        "[64:ff9b:1::1]:1",           // local-use NAT64
                        "[2001:0:4136:e378:8000:63bf:3fff:fdd2]:1",   // Teredo, client 192.0.2.45 (documentation)
                        "[2001:0:a00:1::1]:1"})       // Teredo server 10.0.0.1
    EXPECT_FALSE(p.allows(ep(s))) << s;
  EXPECT_TRUE(p.allows(ep("[2002:808:808::1]:1")));  // 6to4 of 8.8.8.8
  EXPECT_TRUE(p.allows(ep("[64:ff9b::8.8.8.8]:1")));
}

TEST(PeerPolicy, AllowAndDenyListsAdjustTheDefaults) {
  auto p = make(nullptr, {"10.1.0.0/16"}, {"8.8.4.0/24"});
  EXPECT_TRUE(p.allows(ep("10.1.2.3:5000")));
  EXPECT_FALSE(p.allows(ep("10.2.0.1:5000")));
  EXPECT_FALSE(p.allows(ep("8.8.4.4:53")));
  // An allow list never reopens an embedded form that the deny list closes.
  auto q = make(nullptr, {"0.0.0.0/0"}, {"10.0.0.0/8"});
  EXPECT_FALSE(q.allows(ep("[2002:a00:1::]:1")));
}

TEST(PeerPolicy, TheRelayHostIsNeverAPeerExceptLiveRelayedPorts) {
  policy::RelayPortRegistry live;
  auto p = make(&live);
  EXPECT_FALSE(p.allows(ep("203.0.113.5:3478")));   // listening port
  EXPECT_FALSE(p.allows(ep("203.0.113.5:22")));     // anything else on the host
  EXPECT_FALSE(p.allows(ep("203.0.113.5:50000")));  // relay range, no allocation
  live.set_live(Family::v4, 50000, true);
  EXPECT_TRUE(p.allows(ep("203.0.113.5:50000")));   // another user's relayed address
  live.set_live(Family::v4, 50000, false);
  EXPECT_FALSE(p.allows(ep("203.0.113.5:50000")));
  EXPECT_TRUE(p.needs_port_check(*IpAddress::parse("203.0.113.5")));
}

// Fault 1 of issue #26: the exception for another user's relayed address held for every
// loopback and "this network" address with a live port number, so a datagram to
// 127.0.0.1:PORT reached whatever listened on the loopback there.
TEST(PeerPolicy, OnlyTheExactRelayedAddressesWithALivePortAreThisRelaysUsers) {
  policy::RelayPortRegistry live;
  live.set_live(Family::v4, 50000, true);
  live.set_live(Family::v6, 50000, true);
  for (const char* allow : {"", "0.0.0.0/0", "::/0"}) {
    auto p = *allow ? make(&live, {allow}) : make(&live);
    SCOPED_TRACE(allow);
    EXPECT_TRUE(p.allows(ep("203.0.113.5:50000")));
    EXPECT_TRUE(p.allows(ep("[2001:db8::5]:50000")));
    for (const char* s : {"127.0.0.1:50000", "127.255.255.254:50000", "0.0.0.0:50000", "0.1.2.3:50000",
                          "198.18.0.1:50000", "[::]:50000", "[::1]:50000", "[2001:db8::9]:50000",
                          "[::ffff:203.0.113.5]:50000", "[::ffff:0:203.0.113.5]:50000", "[2002:cb00:7105::]:50000",
                          "[64:ff9b::203.0.113.5]:50000"})
      EXPECT_FALSE(p.allows(ep(s))) << s;
  }
  // 0.0.0.0/8 and :: are never peers, whatever the allow list says.
  auto open = make(&live, {"0.0.0.0/0", "::/0"});
  for (const char* s : {"0.0.0.0:5000", "0.1.2.3:5000", "[::]:5000", "[::ffff:8.8.8.8]:5000", "[::8.8.8.8]:5000",
                        "[::ffff:0:8.8.8.8]:5000"})
    EXPECT_FALSE(open.allows(ep(s))) << s;
}

TEST(PeerPolicy, ARelayedAddressInAPrivateRangeStillCarriesCallsBetweenUsers) {
  policy::RelayPortRegistry live;
  live.set_live(Family::v4, 50000, true);
  policy::PeerPolicyConfig c;
  c.relayed_addresses = {*IpAddress::parse("10.0.0.5")};
  c.host_addresses = {*IpAddress::parse("10.0.0.6")};
  policy::PeerPolicy p(c, &live);
  EXPECT_EQ(p.classify(*IpAddress::parse("10.0.0.5")), policy::AddressClass::relayed);
  EXPECT_TRUE(p.allows(ep("10.0.0.5:50000")));
  EXPECT_FALSE(p.allows(ep("10.0.0.5:50001")));
  EXPECT_FALSE(p.allows(ep("10.0.0.5:22")));
  EXPECT_FALSE(p.allows(ep("10.0.0.6:50000")));
  EXPECT_EQ(p.classify(*IpAddress::parse("10.0.0.6")), policy::AddressClass::denied);
}

// RFC 8656 §9: CreatePermission is by address; the address alone decides what it may permit.
TEST(PeerPolicy, ClassifiesAddressesForPermissionsWithoutAPort) {
  policy::RelayPortRegistry live;
  auto p = make(&live);
  EXPECT_EQ(p.classify(*IpAddress::parse("8.8.8.8")), policy::AddressClass::peer);
  EXPECT_EQ(p.classify(*IpAddress::parse("203.0.113.5")), policy::AddressClass::relayed);
  EXPECT_EQ(p.classify(*IpAddress::parse("2001:db8::5")), policy::AddressClass::relayed);
  for (const char* s : {"127.0.0.1", "198.18.0.1", "0.0.0.0", "::", "::1", "10.0.0.1", "2001:db8::9"})
    EXPECT_EQ(p.classify(*IpAddress::parse(s)), policy::AddressClass::denied) << s;
  auto loopback_open = make(&live, {"127.0.0.0/8"});
  EXPECT_EQ(loopback_open.classify(*IpAddress::parse("127.0.0.1")), policy::AddressClass::host);
  EXPECT_FALSE(loopback_open.needs_port_check(*IpAddress::parse("8.8.8.8")));
  EXPECT_TRUE(loopback_open.needs_port_check(*IpAddress::parse("127.0.0.1")));
}

// Fault 2: the SIIT form ::ffff:0:a.b.c.d carried 127.0.0.1 past the checks; all of ::/8 but
// the NAT64 prefix (judged by its IPv4 address) is reserved and never a media peer.
TEST(PeerPolicy, NothingInColonColonSlash8IsAPeerButNat64) {
  auto p = make(nullptr);
  for (const char* s : {"[::ffff:0:127.0.0.1]:1", "[::ffff:0:8.8.8.8]:1", "[::1:2:3:4:5]:1", "[ff::1]:1",
                        "[0:0:0:1::]:1", "[::2]:1", "[::ffff:1:0:0]:1"})
    EXPECT_FALSE(p.allows(ep(s))) << s;
  EXPECT_TRUE(p.allows(ep("[64:ff9b::8.8.8.8]:1")));
  EXPECT_FALSE(p.allows(ep("[64:ff9b::127.0.0.1]:1")));
}

// Fault 3: blocks of the registries that were missing from the default list.
TEST(PeerPolicy, DeniesTheRegistriesBlocksThatAreNotGloballyReachableOrInfrastructure) {
  auto p = make(nullptr);
  for (const char* s : {"[2001:2::1]:1", "[3fff::1]:1", "[5f00::1]:1", "[100:0:0:1::1]:1", "192.31.196.1:53",
                        "192.175.48.1:53", "192.52.193.1:1", "[2620:4f:8000::1]:53", "[2001:20::1]:1",
                        "[2001:30::1]:1", "[2001:3::1]:1", "[2001:4:112::1]:53", "192.0.0.9:1", "192.0.0.10:3478",
                        "[2001:1::2]:3478", "192.88.99.2:1", "[4000::1]:1", "[fec0::1]:1", "[2001:5::1]:1"})
    EXPECT_FALSE(p.allows(ep(s))) << s;
  // Neighbours that are ordinary global unicast stay peers.
  for (const char* s : {"192.31.197.1:1", "192.175.49.1:1", "192.52.192.1:1", "[2620:4f:8001::1]:1",
                        "[2001:200::1]:1", "[2a00:1450::1]:1", "[3ffe::1]:1", "[2001:0:808:808::f7f7:f7f7]:1"})
    EXPECT_TRUE(p.allows(ep(s))) << s;
}

// Every entry of the table means what it says: a denied block is denied at its first address
// (unless an allow-list entry names it), an embedded one by the IPv4 address inside.
TEST(SpecialPurpose, EveryBlockParsesAndIsDecidedAsItsEntrySays) {
  auto p = make(nullptr);
  for (const auto& b : policy::special_purpose_blocks()) {
    SCOPED_TRACE(std::string(b.block));
    auto c = policy::Cidr::parse(b.block);
    ASSERT_TRUE(c);
    const auto* found = policy::most_specific_block(c->network);  // b, or a block inside it
    ASSERT_NE(found, nullptr);
    EXPECT_GE(policy::Cidr::parse(found->block)->prefix, c->prefix);
    const IpAddress first = c->network;
    switch (found->verdict) {
      case policy::Verdict::deny: {
        EXPECT_EQ(p.classify(first), policy::AddressClass::denied);
        // --allow-peer reopens a block, except the forms that are never peers and this host.
        const bool loopback = first.is_v4() ? first.data()[0] == 127 : first == *IpAddress::parse("::1");
        const auto expected = policy::never_a_peer(first) ? policy::AddressClass::denied
                              : loopback                   ? policy::AddressClass::host
                                                           : policy::AddressClass::peer;
        EXPECT_EQ(make(nullptr, {std::string(found->block).c_str()}).classify(first), expected);
        break;
      }
      case policy::Verdict::embedded:  // the first address carries 0.0.0.0
        EXPECT_EQ(p.classify(first), policy::AddressClass::denied);
        break;
      case policy::Verdict::allow:
        EXPECT_EQ(p.classify(first), policy::AddressClass::peer);
        break;
    }
  }
}

// docs/security.md shows the same table: every block, once.
TEST(SpecialPurpose, TheDocsListEveryBlock) {
  std::ifstream f(std::string(HUSH_SOURCE_DIR) + "/docs/security.md");
  ASSERT_TRUE(f) << "docs/security.md";
  std::stringstream text;
  text << f.rdbuf();
  const std::string doc = text.str();
  for (const auto& b : policy::special_purpose_blocks()) {
    const std::string cell = "| `" + std::string(b.block) + "` |";
    EXPECT_NE(doc.find(cell), std::string::npos) << b.block << " is missing from docs/security.md";
  }
}

TEST(PeerPolicy, AllowingLoopbackStillProtectsServicePortsAndIdleRelayPorts) {
  policy::RelayPortRegistry live;
  auto p = make(&live, {"127.0.0.0/8"});
  EXPECT_TRUE(p.allows(ep("127.0.0.1:41000")));
  EXPECT_FALSE(p.allows(ep("127.0.0.1:3478")));
  EXPECT_FALSE(p.allows(ep("127.0.0.1:9100")));
  EXPECT_FALSE(p.allows(ep("127.0.0.1:60000")));
  EXPECT_FALSE(p.allows(ep("127.0.0.1:0")));
  auto v6 = make(&live, {"::1/128"});
  EXPECT_TRUE(v6.allows(ep("[::1]:41000")));  // ::1 is loopback, not an IPv4-compatible address
  EXPECT_FALSE(v6.allows(ep("[::1]:3478")));
  EXPECT_FALSE(make(&live).allows(ep("[::1]:41000")));
}

TEST(TokenBucketTable, RefillsAtTheRateUpToTheBurstAndCollisionsStartAfresh) {
  policy::TokenBucketTable t(1);  // one slot: every key collides
  int allowed = 0;
  for (int i = 0; i < 10; ++i) allowed += t.take(7, 2, 3, 0);
  EXPECT_EQ(allowed, 3);
  EXPECT_FALSE(t.take(7, 2, 3, 400'000'000));  // 0.4 s at 2/s: 0.8 of a token
  EXPECT_TRUE(t.take(7, 2, 3, 500'000'000));
  EXPECT_FALSE(t.take(7, 2, 3, 100'000'000));  // the clock going back refills nothing
  EXPECT_FALSE(t.take(7, 2, 3, 900'000'000));  // nor counts twice: 0.4 s after 0.5 s, 0.8 of one
  allowed = 0;
  for (int i = 0; i < 10; ++i) allowed += t.take(8, 2, 3, 500'000'000);  // 8 takes the slot
  EXPECT_EQ(allowed, 3);
  EXPECT_TRUE(t.take(7, 2, 3, 500'000'000));  // and 7 takes it back, full: never limited for 8
  EXPECT_TRUE(t.take(7, 0, 3, 500'000'000));  // rate 0: no limit
  EXPECT_TRUE(t.take(9, 1, 0, 0));            // a burst below 1 is 1
  EXPECT_FALSE(t.take(9, 1, 0, 0));
}

TEST(PrefixRateLimiter, LimitsPerPrefixAndRefills) {
  auto a = *IpAddress::parse("192.0.2.1");
  auto same_prefix = *IpAddress::parse("192.0.2.200");
  auto other = *IpAddress::parse("198.51.100.1");
  // Slots come from a hash under a random key, so `other` shares a's slot in 1 of 4,096
  // processes; one slot makes every prefix share it. Nothing below may depend on which.
  for (std::size_t slots : {std::size_t{4096}, std::size_t{1}}) {
    SCOPED_TRACE(slots);
    policy::PrefixRateLimiter l(10, 20, slots);
    int allowed = 0;
    for (int i = 0; i < 100; ++i) allowed += l.allow(i % 2 ? a : same_prefix, 0);
    EXPECT_EQ(allowed, 20);
    EXPECT_FALSE(l.allow(a, 50'000'000));  // 0.05 s: half a token
    EXPECT_TRUE(l.allow(a, 200'000'000));  // 0.2 s: two tokens
    // Another prefix has a bucket of its own (or, sharing the slot, restarts it).
    EXPECT_TRUE(l.allow(other, 200'000'000));
  }
}

TEST(PrefixRateLimiter, NeighbouringIpv6PrefixesHaveBucketsOfTheirOwn) {
  // 2001:db8::/64 and 2101:db8::/64 differ in the lowest bit of the key's first byte, which
  // the limiter used to set to keep keys non-zero: the two shared one bucket.
  policy::PrefixRateLimiter l(1, 1);
  EXPECT_TRUE(l.allow(*IpAddress::parse("2001:db8::1"), 0));
  EXPECT_FALSE(l.allow(*IpAddress::parse("2001:db8::2"), 0));  // the same /64
  EXPECT_TRUE(l.allow(*IpAddress::parse("2101:db8::1"), 0));
}

// An unauthenticated answer goes to a request's source address, which anyone can forge; the
// limiter caps how many a prefix receives. It keeps one bucket per slot, and a slot that a
// second prefix takes starts afresh, so two prefixes that share a slot, alternated, are
// never limited: spoofing a victim and one such neighbour would send the victim answers at
// any rate. What an attacker could compute offline with the unkeyed FNV-1a hash the limiter
// used before: pairs of /64 prefixes in the same one of the 4,096 slots. Under the keyed hash
// those pairs share a slot only by chance (1 in 4,096 each).
TEST(PrefixRateLimiter, PrefixesThatCollideWithoutTheKeyAreLimitedApart) {
  auto unkeyed_slot = [](std::uint64_t key) {
    std::uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < 8; ++i) {
      h ^= (key >> (8 * i)) & 0xff;
      h *= 1099511628211ull;
    }
    return (h ^ (h >> 29)) % 4096;
  };
  auto prefix = [](std::uint32_t i) {  // 2001:db8:i::/64 (a /32 holds 2^32 of them)
    std::uint8_t b[16] = {0x20, 0x01, 0x0d, 0xb8, static_cast<std::uint8_t>(i >> 24), static_cast<std::uint8_t>(i >> 16),
                          static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i)};
    return IpAddress::v6_bytes(b);
  };
  std::map<std::uint64_t, std::uint32_t> first_in_slot;
  std::vector<std::pair<IpAddress, IpAddress>> pairs;
  for (std::uint32_t i = 0; pairs.size() < 8; ++i) {
    std::uint64_t key;
    std::memcpy(&key, prefix(i).data(), 8);
    key |= 1;
    auto [it, fresh] = first_in_slot.emplace(unkeyed_slot(key), i);
    if (!fresh) pairs.emplace_back(prefix(it->second), prefix(i)), first_in_slot.erase(it);
  }
  int limited_pairs = 0;
  for (auto& [a, b] : pairs) {
    policy::PrefixRateLimiter l(1, 1);  // one answer, then one a second
    int allowed = 0;
    for (int i = 0; i < 100; ++i) allowed += l.allow(i % 2 ? a : b, 0);
    limited_pairs += allowed == 2;
  }
  EXPECT_GE(limited_pairs, 7) << "pairs an attacker can find without the key still share a bucket";
}

// --relay-to-relay-only: for softphones whose ICE cannot be restricted to relay candidates,
// the relay itself keeps callers from exchanging packets with each other's own addresses.
TEST(PeerPolicy, RelayToRelayOnlyAcceptsRelayedAddressesAndSiblingRelaysAlone) {
  policy::RelayPortRegistry live;
  live.set_live(Family::v4, 50000, true);
  policy::PeerPolicyConfig c;
  c.relayed_addresses = {*IpAddress::parse("203.0.113.5")};
  c.host_addresses = {*IpAddress::parse("198.18.0.1")};
  c.allow = {*policy::Cidr::parse("8.8.8.0/24"), *policy::Cidr::parse("198.18.0.1/32")};
  c.relayed_only = true;
  c.peer_relays = {*policy::Cidr::parse("10.1.2.0/24"), *policy::Cidr::parse("198.18.0.1/32")};
  policy::PeerPolicy p(c, &live);
  EXPECT_TRUE(p.allows(ep("203.0.113.5:50000")));    // another user of this relay
  EXPECT_FALSE(p.allows(ep("203.0.113.5:50001")));   // not a live relayed port
  EXPECT_TRUE(p.allows(ep("10.1.2.3:61234")));       // a sibling relay's relayed address
  EXPECT_FALSE(p.allows(ep("93.184.216.34:40000")));  // a caller's own public address
  EXPECT_FALSE(p.allows(ep("8.8.8.8:53")));          // --allow-peer does not widen it
  EXPECT_FALSE(p.allows(ep("198.18.0.1:61234")));    // nor does --peer-relay open this host
  EXPECT_FALSE(p.allows(ep("10.1.3.3:61234")));
  EXPECT_EQ(p.classify(*IpAddress::parse("93.184.216.34")), policy::AddressClass::denied);
  c.relayed_only = false;
  policy::PeerPolicy open(c, &live);
  EXPECT_TRUE(open.allows(ep("93.184.216.34:40000")));
}

TEST(PeerPolicy, ProbesAreWhatNoIceAgentOffers) {
  policy::RelayPortRegistry live;
  auto p = make(&live);
  for (const char* probe : {"127.0.0.1", "127.255.255.254", "::1", "0.0.0.0", "0.1.2.3", "::", "::ffff:10.0.0.1",
                            "::ffff:0:127.0.0.1", "224.0.0.251", "239.255.255.250", "ff02::1", "198.18.0.1", "2001:db8::9"})
    EXPECT_TRUE(p.is_probe(*IpAddress::parse(probe))) << probe;
  // Host candidates and reflexive addresses of real callers, and the relay's own relayed
  // addresses (another user's allocation that has just expired).
  for (const char* candidate : {"192.168.1.2", "10.0.0.5", "172.16.0.1", "169.254.10.20", "100.64.1.1", "fd00::1",
                                "fe80::1", "8.8.8.8", "2001:4860::1", "203.0.113.5", "2001:db8::5", "192.0.2.1"})
    EXPECT_FALSE(p.is_probe(*IpAddress::parse(candidate))) << candidate;
}
