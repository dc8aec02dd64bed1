// RFC 8656 §9: permissions, by peer IP address only (ports are ignored), 300 s each.
#pragma once

#include <vector>

#include "hush/base/address.hpp"
#include "hush/turn/time.hpp"

namespace hush::turn {

struct Permission {
  IpAddress peer;
  TimePoint expires;
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
  const std::vector<Permission>& items() const { return items_; }

 private:
  std::vector<Permission> items_;
};

}  // namespace hush::turn
