// RFC 8656 §11.2: ChannelBind rules; §12: channels.
#include "hush/turn/channel_binding.hpp"

#include <algorithm>

namespace hush::turn {

const ChannelBinding* ChannelTable::by_number(std::uint16_t number, TimePoint now) const {
  for (const auto& c : items_)
    if (c.number == number) return c.expires > now ? &c : nullptr;
  return nullptr;
}

const ChannelBinding* ChannelTable::by_peer(const Endpoint& peer, TimePoint now) const {
  for (const auto& c : items_)
    if (c.peer == peer) return c.expires > now ? &c : nullptr;
  return nullptr;
}

BindResult ChannelTable::check(std::uint16_t number, const Endpoint& peer, TimePoint now, std::size_t max) const {
  for (const auto& c : items_) {
    if (c.expires <= now) continue;
    if (c.number == number) return c.peer == peer ? BindResult::refreshed : BindResult::channel_in_use;
    if (c.peer == peer) return BindResult::peer_in_use;
  }
  std::size_t live = 0;
  for (const auto& c : items_) live += c.expires > now;
  return live >= max ? BindResult::full : BindResult::bound;
}

BindResult ChannelTable::bind(std::uint16_t number, const Endpoint& peer, TimePoint expires, bool host_peer,
                              TimePoint now, std::size_t max) {
  const BindResult r = check(number, peer, now, max);
  if (r == BindResult::refreshed) {
    for (auto& c : items_)
      if (c.number == number && c.expires > now) c.expires = expires;
  } else if (r == BindResult::bound) {
    purge(now);
    items_.push_back(ChannelBinding{expires, peer, number, host_peer});
  }
  return r;
}

void ChannelTable::purge(TimePoint now) {
  items_.erase_if([&](const ChannelBinding& c) { return c.expires <= now; });
}

TimePoint ChannelTable::earliest_expiry(TimePoint otherwise) const {
  for (const auto& c : items_) otherwise = std::min(otherwise, c.expires);
  return otherwise;
}

}  // namespace hush::turn
