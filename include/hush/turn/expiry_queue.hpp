// Deadlines of allocations and reservations in a min-heap. An entry may be stale (the
// allocation was refreshed or deleted); the owner checks on pop. Equivalent to a timer wheel
// for our needs: O(log n) per change, nothing per packet.
#pragma once

#include <cstdint>
#include <queue>
#include <vector>

#include "hush/turn/time.hpp"

namespace hush::turn {

class ExpiryQueue {
 public:
  void schedule(TimePoint when, std::uint64_t id) { heap_.push(Entry{when, id}); }
  // Pops one entry due at `now`; false when none is.
  bool pop_due(TimePoint now, std::uint64_t& id, TimePoint& when);
  std::size_t size() const { return heap_.size(); }

 private:
  struct Entry {
    TimePoint when;
    std::uint64_t id;
    bool operator>(const Entry& o) const { return when > o.when; }
  };
  std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> heap_;
};

}  // namespace hush::turn
