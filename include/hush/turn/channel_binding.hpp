// RFC 8656 §11-12: channel bindings, 0x4000-0x4FFF, 600 s each. A channel maps to exactly one
// peer transport address and a peer address to exactly one channel.
#pragma once

#include <cstdint>
#include <span>

#include "hush/base/address.hpp"
#include "hush/base/small_vector.hpp"
#include "hush/turn/time.hpp"

namespace hush::turn {

struct ChannelBinding {  // 32 bytes: two to a cache line
  TimePoint expires;
  Endpoint peer;
  std::uint16_t number;
  bool host_peer;
};

enum class BindResult { bound, refreshed, channel_in_use, peer_in_use, full };

class ChannelTable {
 public:
  const ChannelBinding* by_number(std::uint16_t number, TimePoint now) const;
  const ChannelBinding* by_peer(const Endpoint& peer, TimePoint now) const;
  // Checks the rebinding rules of §11.2 without changing anything.
  BindResult check(std::uint16_t number, const Endpoint& peer, TimePoint now, std::size_t max) const;
  BindResult bind(std::uint16_t number, const Endpoint& peer, TimePoint expires, bool host_peer,
                  TimePoint now, std::size_t max);
  void purge(TimePoint now);
  TimePoint earliest_expiry(TimePoint otherwise) const;
  std::size_t size() const { return items_.size(); }
  std::span<const ChannelBinding> items() const { return items_.items(); }

 private:
  SmallVector<ChannelBinding, 2> items_;  // looked up on every relayed packet: kept inline
};

}  // namespace hush::turn
