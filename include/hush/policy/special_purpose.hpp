// The default peer table: the IANA IPv4 and IPv6 Special-Purpose Address Registries (RFC
// 6890), entry by entry, with the registry's "Globally Reachable" column, plus the few
// blocks of the address-space registries that are no unicast peer (multicast, IPv6 outside
// 2000::/3). Data, not code: docs/security.md shows the same table, and a test keeps the
// two in step.
#pragma once

#include <span>
#include <string_view>

#include "hush/base/address.hpp"
#include "hush/policy/cidr.hpp"

namespace hush::policy {

enum class Reachable { yes, no, not_applicable, not_listed };  // the registry's column
// deny: never a peer unless --allow-peer names it. embedded: the block carries an IPv4
// address (6to4, Teredo, NAT64) and is judged by that address. allow: a peer.
enum class Verdict { deny, embedded, allow };

struct SpecialBlock {
  std::string_view block;
  std::string_view name;
  std::string_view reference;
  Reachable reachable;
  Verdict verdict;
  std::string_view why;  // for the docs: why a block that the registry calls reachable is denied
};

std::span<const SpecialBlock> special_purpose_blocks();

// The most specific entry that holds `a`; nullptr for an IPv4 address in none of them.
const SpecialBlock* most_specific_block(const IpAddress& a);

}  // namespace hush::policy
