// RFC 8656 §9: permissions.
#include "hush/turn/permission.hpp"

#include <algorithm>

namespace hush::turn {

const Permission* PermissionSet::find(const IpAddress& peer, TimePoint now) const {
  for (const auto& p : items_)
    if (p.peer == peer) return p.expires > now ? &p : nullptr;
  return nullptr;
}

bool PermissionSet::would_fit(const IpAddress& peer, std::size_t extra, std::size_t max) const {
  for (const auto& p : items_)
    if (p.peer == peer) return true;
  return items_.size() + extra <= max;
}

bool PermissionSet::install(const IpAddress& peer, TimePoint expires, bool host_peer, std::size_t max) {
  for (auto& p : items_) {
    if (p.peer == peer) {
      p.expires = expires;
      p.host_peer = host_peer;
      return true;
    }
  }
  if (items_.size() >= max) return false;
  items_.push_back(Permission{expires, peer, host_peer});
  return true;
}

void PermissionSet::purge(TimePoint now) {
  items_.erase_if([&](const Permission& p) { return p.expires <= now; });
}

TimePoint PermissionSet::earliest_expiry(TimePoint otherwise) const {
  for (const auto& p : items_) otherwise = std::min(otherwise, p.expires);
  return otherwise;
}

}  // namespace hush::turn
