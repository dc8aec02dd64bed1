// RFC 8656 §5-7: one allocation, owned by the worker whose listener received its Allocate.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "hush/stun/message.hpp"
#include "hush/turn/channel_binding.hpp"
#include "hush/turn/five_tuple.hpp"
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

struct Allocation {
  std::uint64_t id = 0;
  FiveTuple client;
  std::string username;
  std::optional<RelaySocket> relay_v4;
  std::optional<RelaySocket> relay_v6;
  TimePoint expires;
  TimePoint scheduled;  // the deadline the expiry queue holds for this allocation
  PermissionSet permissions;
  ChannelTable channels;
  ResponseCache responses;

  const RelaySocket* relay_for(Family f) const {
    const auto& r = f == Family::v4 ? relay_v4 : relay_v6;
    return r ? &*r : nullptr;
  }
  bool has_family(Family f) const { return relay_for(f) != nullptr; }
  // The earliest moment something in this allocation expires.
  TimePoint next_deadline() const;
};

}  // namespace hush::turn
