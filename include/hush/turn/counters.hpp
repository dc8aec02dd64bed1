// Per-worker counters. Plain integers written only by the owning worker; metrics sums them.
#pragma once

#include <array>
#include <cstdint>

namespace hush::turn {

enum class Drop : std::uint8_t {
  malformed,            // neither STUN nor ChannelData, or a parse error
  no_allocation,        // ChannelData or Send from a 5-tuple with no allocation
  no_permission,        // peer not permitted (either direction)
  unbound_channel,
  peer_denied,          // host-address peer whose port the policy refuses
  rate_limited,         // unauthenticated answer over the per-prefix rate
  amplification,        // unauthenticated answer would exceed 3x the request
  outbox_full,
  unknown_indication,
  count_
};

enum class AuthFail : std::uint8_t { missing, stale_nonce, bad_username, expired, bad_integrity, wrong_user, count_ };

struct Counters {
  std::uint64_t allocations_created = 0;
  std::uint64_t allocations_expired = 0;
  std::uint64_t allocations_deleted = 0;
  std::uint64_t to_peer_packets = 0;
  std::uint64_t to_peer_bytes = 0;
  std::uint64_t to_client_packets = 0;
  std::uint64_t to_client_bytes = 0;
  std::uint64_t binding_requests = 0;
  std::array<std::uint64_t, static_cast<std::size_t>(Drop::count_)> drops{};
  std::array<std::uint64_t, static_cast<std::size_t>(AuthFail::count_)> auth_failures{};
  std::array<std::uint64_t, 700> error_responses{};  // by code 300-699

  void drop(Drop d) { ++drops[static_cast<std::size_t>(d)]; }
  std::uint64_t dropped(Drop d) const { return drops[static_cast<std::size_t>(d)]; }
};

}  // namespace hush::turn
