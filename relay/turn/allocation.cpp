#include "hush/turn/allocation.hpp"

#include <algorithm>
#include <cstring>

namespace hush::turn {

const std::vector<std::byte>* ResponseCache::find(const std::byte* tid) const {
  for (const auto& e : entries_)
    if (!e.response.empty() && std::memcmp(e.id.data(), tid, e.id.size()) == 0) return &e.response;
  return nullptr;
}

void ResponseCache::store(const std::byte* tid, Bytes response) {
  Entry& e = entries_[next_];
  next_ = (next_ + 1) % kSlots;
  std::memcpy(e.id.data(), tid, e.id.size());
  e.response.assign(response.begin(), response.end());
}

TimePoint Allocation::next_deadline() const {
  return channels.earliest_expiry(permissions.earliest_expiry(expires));
}

}  // namespace hush::turn
