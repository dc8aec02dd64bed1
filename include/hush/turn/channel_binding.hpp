// RFC 8656 §11-12: channel bindings, 0x4000-0x4FFF, 600 s each. A channel maps to exactly one
// peer transport address and a peer address to exactly one channel.
#pragma once

#include <cstdint>
#include <vector>

#include "hush/base/address.hpp"
#include "hush/turn/time.hpp"

namespace hush::turn {

struct ChannelBinding {
  std::uint16_t number;
  Endpoint peer;
  TimePoint expires;
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
  const std::vector<ChannelBinding>& items() const { return items_; }

 private:
  std::vector<ChannelBinding> items_;
};

}  // namespace hush::turn
