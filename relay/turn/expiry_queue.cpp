#include "hush/turn/expiry_queue.hpp"

namespace hush::turn {

bool ExpiryQueue::pop_due(TimePoint now, std::uint64_t& id, TimePoint& when) {
  if (heap_.empty() || heap_.top().when > now) return false;
  id = heap_.top().id;
  when = heap_.top().when;
  heap_.pop();
  return true;
}

}  // namespace hush::turn
