// IANA IPv4 and IPv6 Special-Purpose Address Registries, as of their 2025 revisions. A block
// the registry marks not globally reachable is denied; of those it marks reachable, the
// anycast services of the internet's own infrastructure are denied too (no caller is ever a
// PCP server, a TURN anycast, an AS112 DNS sink or an AMT relay), as are identifiers that
// are not locators (ORCHIDv2, DETs).
#include "hush/policy/special_purpose.hpp"

#include <array>
#include <vector>

namespace hush::policy {
namespace {

using R = Reachable;
using V = Verdict;

constexpr std::string_view kInfrastructure = "infrastructure anycast: never a caller";

constexpr std::array kBlocks = {
    // IPv4 Special-Purpose Address Registry.
    SpecialBlock{"0.0.0.0/8", "\"This network\"", "RFC 791", R::no, V::deny, ""},
    SpecialBlock{"0.0.0.0/32", "\"This host on this network\"", "RFC 1122", R::no, V::deny, ""},
    SpecialBlock{"10.0.0.0/8", "Private-Use", "RFC 1918", R::no, V::deny, ""},
    SpecialBlock{"100.64.0.0/10", "Shared Address Space", "RFC 6598", R::no, V::deny, ""},
    SpecialBlock{"127.0.0.0/8", "Loopback", "RFC 1122", R::no, V::deny, ""},
    SpecialBlock{"169.254.0.0/16", "Link Local", "RFC 3927", R::no, V::deny, ""},
    SpecialBlock{"172.16.0.0/12", "Private-Use", "RFC 1918", R::no, V::deny, ""},
    SpecialBlock{"192.0.0.0/24", "IETF Protocol Assignments", "RFC 6890", R::no, V::deny, ""},
    SpecialBlock{"192.0.0.0/29", "IPv4 Service Continuity Prefix", "RFC 7335", R::no, V::deny, ""},
    SpecialBlock{"192.0.0.8/32", "IPv4 dummy address", "RFC 7600", R::no, V::deny, ""},
    SpecialBlock{"192.0.0.9/32", "Port Control Protocol Anycast", "RFC 7723", R::yes, V::deny, kInfrastructure},
    SpecialBlock{"192.0.0.10/32", "Traversal Using Relays around NAT Anycast", "RFC 8155", R::yes, V::deny,
                 kInfrastructure},
    SpecialBlock{"192.0.0.170/32", "NAT64/DNS64 Discovery", "RFC 8880", R::no, V::deny, ""},
    SpecialBlock{"192.0.0.171/32", "NAT64/DNS64 Discovery", "RFC 8880", R::no, V::deny, ""},
    SpecialBlock{"192.0.2.0/24", "Documentation (TEST-NET-1)", "RFC 5737", R::no, V::deny, ""},
    SpecialBlock{"192.31.196.0/24", "AS112-v4", "RFC 7535", R::yes, V::deny, kInfrastructure},
    SpecialBlock{"192.52.193.0/24", "AMT", "RFC 7450", R::yes, V::deny, kInfrastructure},
    SpecialBlock{"192.88.99.0/24", "Deprecated (6to4 Relay Anycast)", "RFC 7526", R::not_applicable, V::deny,
                 kInfrastructure},
    SpecialBlock{"192.88.99.2/32", "6a44-relay anycast address", "RFC 6751", R::yes, V::deny, kInfrastructure},
    SpecialBlock{"192.168.0.0/16", "Private-Use", "RFC 1918", R::no, V::deny, ""},
    SpecialBlock{"192.175.48.0/24", "Direct Delegation AS112 Service", "RFC 7534", R::yes, V::deny, kInfrastructure},
    SpecialBlock{"198.18.0.0/15", "Benchmarking", "RFC 2544", R::no, V::deny, ""},
    SpecialBlock{"198.51.100.0/24", "Documentation (TEST-NET-2)", "RFC 5737", R::no, V::deny, ""},
    SpecialBlock{"203.0.113.0/24", "Documentation (TEST-NET-3)", "RFC 5737", R::no, V::deny, ""},
    SpecialBlock{"240.0.0.0/4", "Reserved", "RFC 1112", R::no, V::deny, ""},
    SpecialBlock{"255.255.255.255/32", "Limited Broadcast", "RFC 919", R::no, V::deny, ""},
    // IPv4 Multicast Address Space Registry: a group, never one peer.
    SpecialBlock{"224.0.0.0/4", "Multicast", "RFC 5771", R::not_listed, V::deny, "a group, not a peer"},

    // IPv6 Special-Purpose Address Registry.
    SpecialBlock{"::1/128", "Loopback Address", "RFC 4291", R::no, V::deny, ""},
    SpecialBlock{"::/128", "Unspecified Address", "RFC 4291", R::no, V::deny, ""},
    SpecialBlock{"::ffff:0:0/96", "IPv4-mapped Address", "RFC 4291", R::no, V::deny, ""},
    SpecialBlock{"64:ff9b::/96", "IPv4-IPv6 Translat.", "RFC 6052", R::yes, V::embedded, ""},
    SpecialBlock{"64:ff9b:1::/48", "IPv4-IPv6 Translat. (local use)", "RFC 8215", R::no, V::deny, ""},
    SpecialBlock{"100::/64", "Discard-Only Address Block", "RFC 6666", R::no, V::deny, ""},
    SpecialBlock{"100:0:0:1::/64", "Dummy IPv6 Prefix", "RFC 9780", R::no, V::deny, ""},
    SpecialBlock{"2001::/23", "IETF Protocol Assignments", "RFC 2928", R::no, V::deny, ""},
    SpecialBlock{"2001::/32", "TEREDO", "RFC 4380", R::not_applicable, V::embedded, ""},
    SpecialBlock{"2001:1::1/128", "Port Control Protocol Anycast", "RFC 7723", R::yes, V::deny, kInfrastructure},
    SpecialBlock{"2001:1::2/128", "Traversal Using Relays around NAT Anycast", "RFC 8155", R::yes, V::deny,
                 kInfrastructure},
    SpecialBlock{"2001:1::3/128", "DNS-SD Service Registration Protocol Anycast", "RFC 9665", R::yes, V::deny,
                 kInfrastructure},
    SpecialBlock{"2001:2::/48", "Benchmarking", "RFC 5180", R::no, V::deny, ""},
    SpecialBlock{"2001:3::/32", "AMT", "RFC 7450", R::yes, V::deny, kInfrastructure},
    SpecialBlock{"2001:4:112::/48", "AS112-v6", "RFC 7535", R::yes, V::deny, kInfrastructure},
    SpecialBlock{"2001:10::/28", "Deprecated (previously ORCHID)", "RFC 4843", R::not_applicable, V::deny, ""},
    SpecialBlock{"2001:20::/28", "ORCHIDv2", "RFC 7343", R::yes, V::deny, "identifiers of an overlay, not locators"},
    SpecialBlock{"2001:30::/28", "Drone Remote ID Protocol Entity Tags (DETs)", "RFC 9374", R::yes, V::deny,
                 "identifiers of an overlay, not locators"},
    SpecialBlock{"2001:db8::/32", "Documentation", "RFC 3849", R::no, V::deny, ""},
    SpecialBlock{"2002::/16", "6to4", "RFC 3056", R::not_applicable, V::embedded, ""},
    SpecialBlock{"2620:4f:8000::/48", "Direct Delegation AS112 Service", "RFC 7534", R::yes, V::deny, kInfrastructure},
    SpecialBlock{"3fff::/20", "Documentation", "RFC 9637", R::no, V::deny, ""},
    SpecialBlock{"5f00::/16", "Segment Routing (SRv6) SIDs", "RFC 9602", R::no, V::deny, ""},
    SpecialBlock{"fc00::/7", "Unique-Local", "RFC 4193", R::no, V::deny, ""},
    SpecialBlock{"fe80::/10", "Link-Local Unicast", "RFC 4291", R::no, V::deny, ""},
    // IPv6 Address Space Registry: IANA assigns global unicast from 2000::/3 only; the rest is
    // reserved, local or multicast, and reaches nothing on the internet. Within ::/8 the
    // deprecated IPv4-compatible (::/96) and the obsolete SIIT (::ffff:0:0:0/96, RFC 2765) forms
    // carry an IPv4 address that a translator on the relay's path would deliver.
    SpecialBlock{"::/0", "Reserved by IETF (outside global unicast)", "RFC 4291", R::not_listed, V::deny,
                 "no global unicast address"},
    SpecialBlock{"2000::/3", "Global Unicast", "RFC 4291", R::not_listed, V::allow, ""},
    SpecialBlock{"::/8", "Reserved by IETF", "RFC 4291", R::not_listed, V::deny, "no global unicast address"},
    SpecialBlock{"::/96", "IPv4-compatible (deprecated)", "RFC 4291", R::not_listed, V::deny,
                 "carries an IPv4 address"},
    SpecialBlock{"::ffff:0:0:0/96", "IPv4-translated (SIIT, obsolete)", "RFC 2765", R::not_listed, V::deny,
                 "carries an IPv4 address"},
    SpecialBlock{"fec0::/10", "Site-local (deprecated)", "RFC 3879", R::not_listed, V::deny, ""},
    SpecialBlock{"ff00::/8", "Multicast", "RFC 4291", R::not_listed, V::deny, "a group, not a peer"},
};

const std::vector<Cidr>& parsed() {
  static const std::vector<Cidr> list = [] {
    std::vector<Cidr> out;
    for (const auto& b : kBlocks) out.push_back(*Cidr::parse(b.block));
    return out;
  }();
  return list;
}

}  // namespace

std::span<const SpecialBlock> special_purpose_blocks() { return kBlocks; }

const SpecialBlock* most_specific_block(const IpAddress& a) {
  const auto& cidrs = parsed();
  const SpecialBlock* best = nullptr;
  int best_prefix = -1;
  for (std::size_t i = 0; i < cidrs.size(); ++i) {
    if (cidrs[i].prefix > best_prefix && cidrs[i].contains(a)) {
      best = &kBlocks[i];
      best_prefix = cidrs[i].prefix;
    }
  }
  return best;
}

}  // namespace hush::policy
