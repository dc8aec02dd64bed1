// Per-worker counters. Plain integers written only by the owning worker; metrics copies them
// on the worker's thread and sums them on scrape.
#pragma once

#include <array>
#include <cstdint>
#include <iterator>

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
  bandwidth,            // over the allocation's --bandwidth-cap
  smoothing_queue,      // --smoothing: the allocation's queue for the next tick was full
  send_failed,          // the kernel refused to send it (full socket buffer, no route, firewall)
  blocked,              // a request from a source that --block-after has blocked
  count_
};

enum class AuthFail : std::uint8_t { missing, stale_nonce, bad_username, expired, bad_integrity, wrong_user, count_ };

// Why an Allocate was turned away before any port was opened.
enum class Refusal : std::uint8_t { draining, over_total, over_user, over_source, no_port, count_ };

// Names for metrics labels and log lines, in enum order.
inline constexpr const char* kDropNames[] = {"malformed",       "no_allocation", "no_permission", "unbound_channel",
                                             "peer_denied",     "rate_limited",  "amplification", "outbox_full",
                                             "unknown_indication", "bandwidth",     "smoothing_queue",
                                             "send_failed",     "blocked"};
static_assert(std::size(kDropNames) == static_cast<std::size_t>(Drop::count_));
inline constexpr const char* kAuthFailNames[] = {"missing_attributes", "stale_nonce",   "bad_username",
                                                 "expired_credential", "bad_integrity", "wrong_user"};
static_assert(std::size(kAuthFailNames) == static_cast<std::size_t>(AuthFail::count_));
inline constexpr const char* kRefusalNames[] = {"draining", "over_total", "over_user", "over_source", "no_port"};
static_assert(std::size(kRefusalNames) == static_cast<std::size_t>(Refusal::count_));

// Upper bounds, in seconds, of the allocation lifetime histogram (the last bucket is +Inf).
inline constexpr std::array<double, 8> kLifetimeBounds{10, 60, 300, 600, 1800, 3600, 7200, 86400};

struct Counters {
  std::uint64_t allocations_created = 0;
  std::uint64_t allocations_expired = 0;
  std::uint64_t allocations_deleted = 0;
  std::uint64_t allocations_redirected = 0;  // 300 ALTERNATE-SERVER
  std::uint64_t allocations_closed = 0;      // their TCP or TLS connection closed
  std::uint64_t to_peer_packets = 0;
  std::uint64_t to_peer_bytes = 0;
  std::uint64_t to_client_packets = 0;
  std::uint64_t to_client_bytes = 0;
  std::uint64_t padding_bytes = 0;  // added by padding (none until a padding mode exists)
  std::uint64_t cover_bytes = 0;    // sent as cover traffic (likewise)
  std::uint64_t binding_requests = 0;
  std::uint64_t icmp_indications = 0;  // ICMP errors passed to clients (RFC 8656 §11.5)
  std::uint64_t source_blocks = 0;     // blocks --block-after started
  std::array<std::uint64_t, static_cast<std::size_t>(Drop::count_)> drops{};
  std::array<std::uint64_t, static_cast<std::size_t>(AuthFail::count_)> auth_failures{};
  std::array<std::uint64_t, static_cast<std::size_t>(Refusal::count_)> refusals{};
  std::array<std::uint64_t, 700> error_responses{};  // by code 300-699
  std::array<std::uint64_t, kLifetimeBounds.size() + 1> lifetime_buckets{};  // not cumulative
  double lifetime_seconds_sum = 0;

  void drop(Drop d) { ++drops[static_cast<std::size_t>(d)]; }
  std::uint64_t dropped(Drop d) const { return drops[static_cast<std::size_t>(d)]; }
  void refuse(Refusal r) { ++refusals[static_cast<std::size_t>(r)]; }
  void observe_lifetime(double seconds) {
    std::size_t i = 0;
    while (i < kLifetimeBounds.size() && seconds > kLifetimeBounds[i]) ++i;
    ++lifetime_buckets[i];
    lifetime_seconds_sum += seconds;
  }
};

// What is alive on one worker right now, counted on demand (never per packet).
struct Gauges {
  std::uint64_t allocations = 0;
  std::array<std::uint64_t, 4> allocations_by_transport{};  // UDP, TCP, TLS, DTLS
  std::array<std::uint64_t, 2> relayed_addresses{};  // by family: IPv4, IPv6
  std::array<std::uint64_t, 2> permissions{};        // by peer family
  std::array<std::uint64_t, 2> channels{};           // by peer family
};

}  // namespace hush::turn
