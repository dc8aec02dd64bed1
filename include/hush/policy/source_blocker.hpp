// What fail2ban gives an operator, without a log: a source that keeps failing where only the
// real owner of its address can fail (a wrong credential presented with a nonce that was
// sent to that address, a peer the policy forbids) is ignored for a while. In memory only,
// fixed size, nothing written out; owned by one worker, no locks inside.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "hush/base/address.hpp"

namespace hush::policy {

struct BlockLimits {
  unsigned strikes = 20;                          // failures within `window_ns` that start a block; 0: off
  std::int64_t window_ns = 60'000'000'000;        // how long failures are remembered
  std::int64_t block_ns = 300'000'000'000;        // how long a block lasts
  std::size_t slots = 16384;                      // prefixes the table holds
};

// Sources are counted by prefix: an IPv4 address (/32: a NAT's or a carrier-grade NAT's many
// users are not punished for a neighbour on another address) and an IPv6 /64 (what one
// host or home network holds). The table is set-associative with two choices: two keyed
// hashes pick two sets of eight slots, and a prefix not yet counted takes a free slot of
// either, else the one with the fewest failures, never one that holds a block. So a collision can only spare a source,
// never block one for another's failures or lift a block; and a source keeps its count
// unless more prefixes than the table holds (16,384 per worker) fail within one window.
class SourceBlocker {
 public:
  explicit SourceBlocker(BlockLimits limits);

  bool blocked(const IpAddress& source, std::int64_t now_ns) const;
  // One failure of `source`; true when it starts a block.
  bool strike(const IpAddress& source, std::int64_t now_ns);
  bool enabled() const { return limits_.strikes != 0; }

 private:
  struct Slot {
    IpAddress prefix;
    bool used = false;
    std::uint32_t strikes = 0;
    std::int64_t window_start_ns = 0;
    std::int64_t blocked_until_ns = 0;
  };
  static constexpr std::size_t kWays = 8;
  static IpAddress prefix_of(const IpAddress& a);
  std::size_t set_of(const IpAddress& prefix, int choice) const;  // the first slot of one of its two sets
  std::size_t find(const IpAddress& prefix) const;  // its slot, or kNone
  static constexpr std::size_t kNone = ~std::size_t{0};

  BlockLimits limits_;
  std::size_t ways_ = 1;
  std::vector<Slot> slots_;
};

}  // namespace hush::policy
