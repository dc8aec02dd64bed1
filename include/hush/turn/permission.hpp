// RFC 8656 §9: permissions, by peer IP address only (ports are ignored), 300 s each.
#pragma once

#include <span>

#include "hush/base/address.hpp"
#include "hush/base/small_vector.hpp"
#include "hush/turn/time.hpp"

namespace hush::turn {

struct Permission {  // 32 bytes: two to a cache line
  TimePoint expires;
  IpAddress peer;
  bool host_peer;  // peer is on this host: every send re-checks the port against peer policy
};

class PermissionSet {
 public:
  const Permission* find(const IpAddress& peer, TimePoint now) const;
  bool contains(const IpAddress& peer, TimePoint now) const { return find(peer, now) != nullptr; }
  // Installs or refreshes; returns false if a new entry would exceed `max`.
  bool install(const IpAddress& peer, TimePoint expires, bool host_peer, std::size_t max);
  bool would_fit(const IpAddress& peer, std::size_t extra, std::size_t max) const;
  void purge(TimePoint now);
  TimePoint earliest_expiry(TimePoint otherwise) const;
  std::size_t size() const { return items_.size(); }
  std::span<const Permission> items() const { return items_.items(); }

 private:
  SmallVector<Permission, 2> items_;  // checked on every relayed packet: kept inline
};

}  // namespace hush::turn
