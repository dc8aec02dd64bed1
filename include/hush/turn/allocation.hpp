// RFC 8656 §5-7: one allocation, owned by the worker whose listener received its Allocate.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "hush/stun/message.hpp"
#include "hush/turn/channel_binding.hpp"
#include "hush/turn/five_tuple.hpp"
#include "hush/turn/kernel_path.hpp"
#include "hush/turn/permission.hpp"
#include "hush/turn/port_allocator.hpp"
#include "hush/turn/time.hpp"

namespace hush::turn {

// Responses to the last few requests, so retransmissions get the same answer (RFC 8489 §6.3.1).
class ResponseCache {
 public:
  static constexpr std::size_t kSlots = 4;
  const std::vector<std::byte>* find(const std::byte* transaction_id) const;
  void store(const std::byte* transaction_id, Bytes response);

 private:
  struct Entry {
    stun::TransactionId id{};
    std::vector<std::byte> response;
  };
  std::array<Entry, kSlots> entries_{};
  std::size_t next_ = 0;
};

// Bytes per second for one direction of one allocation (--bandwidth-cap). Refilled from the
// batch's clock when a packet passes; bursts up to one second's worth, at least 128 KiB.
struct ByteBucket {
  std::int64_t tokens = -1;  // -1: not started
  std::int64_t last_ns = 0;
  bool take(std::size_t bytes, std::uint64_t rate, std::int64_t now_ns) {
    const std::int64_t burst = std::max<std::int64_t>(static_cast<std::int64_t>(rate), 131072);
    if (tokens < 0) {
      tokens = burst;
    } else if (now_ns > last_ns) {
      const std::int64_t elapsed = std::min<std::int64_t>(now_ns - last_ns, 1'000'000'000);
      tokens = std::min(burst, tokens + static_cast<std::int64_t>(rate) * elapsed / 1'000'000'000);
    }
    last_ns = now_ns;
    if (tokens < static_cast<std::int64_t>(bytes)) return false;
    tokens -= static_cast<std::int64_t>(bytes);
    return true;
  }
};

// RFC 6062: one peer connection of a TCP allocation, named by its CONNECTION-ID.
struct TcpConnection {
  std::uint32_t id = 0;
  Endpoint peer;
  bool outbound = false;  // opened by a Connect (else accepted from the peer)
};

// --smoothing: messages to the client waiting for the allocation's next tick, framed and back
// to back. `sending` holds the last tick's until the worker has flushed them.
struct SmoothQueue {
  std::vector<std::byte> queued, sending;
  std::vector<std::uint32_t> queued_sizes;
  bool scheduled = false;
  bool cover = false;              // --cover: every tick sends something
  std::uint32_t cover_size = 164;  // framed size of cover messages: the last media message's
};

struct Allocation {
  // What a relayed packet reads, at the front, so that a packet touches few cache lines.
  FiveTuple client;
  std::optional<RelaySocket> relay_v4;
  std::optional<RelaySocket> relay_v6;
  ChannelTable channels;
  PermissionSet permissions;
  ByteBucket to_peer_budget;
  ByteBucket to_client_budget;
  std::unique_ptr<SmoothQueue> smooth;  // with --smoothing, from the first relayed message
  // RFC 6062: the relayed address is a TCP listener (relay_v4/relay_v6 hold it) and data
  // flows over peer connections spliced to client data connections, never through here.
  bool tcp = false;

  std::uint64_t id = 0;
  std::string username;
  TimePoint created;
  TimePoint expires;
  TimePoint scheduled;  // the deadline the expiry queue holds for this allocation
  ResponseCache responses;
  std::vector<TcpConnection> tcp_connections;
  std::vector<KernelFlow> in_kernel;  // --kernel-fastpath: channels forwarded by the kernel

  const RelaySocket* relay_for(Family f) const {
    const auto& r = f == Family::v4 ? relay_v4 : relay_v6;
    return r ? &*r : nullptr;
  }
  bool has_family(Family f) const { return relay_for(f) != nullptr; }
  // The earliest moment something in this allocation expires.
  TimePoint next_deadline() const;
};

}  // namespace hush::turn
