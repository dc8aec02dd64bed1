#include "hush/policy/source_blocker.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

#include "hush/base/hash.hpp"

namespace hush::policy {

SourceBlocker::SourceBlocker(BlockLimits limits) : limits_(limits) {
  const std::size_t slots = limits.strikes == 0 ? 1 : std::max<std::size_t>(limits.slots, 1);
  ways_ = std::min(kWays, slots);
  slots_.resize(slots / ways_ * ways_);
}

IpAddress SourceBlocker::prefix_of(const IpAddress& a) {
  if (a.is_v4()) return a;
  std::uint8_t b[16] = {};
  std::memcpy(b, a.data(), 8);
  return IpAddress::v6_bytes(b);
}

std::size_t SourceBlocker::set_of(const IpAddress& prefix, int choice) const {
  const std::size_t sets = slots_.size() / ways_;
  const std::size_t seed = (prefix.is_v4() ? 4 : 6) + 16 * static_cast<std::size_t>(choice);
  return hash_bytes(prefix.data(), prefix.size(), seed) % sets * ways_;
}

std::size_t SourceBlocker::find(const IpAddress& prefix) const {
  for (int choice = 0; choice < 2; ++choice) {
    const std::size_t first = set_of(prefix, choice);
    for (std::size_t i = first; i < first + ways_; ++i)
      if (slots_[i].used && slots_[i].prefix == prefix) return i;
  }
  return kNone;
}

bool SourceBlocker::blocked(const IpAddress& source, std::int64_t now_ns) const {
  if (!enabled()) return false;
  const std::size_t i = find(prefix_of(source));
  return i != kNone && slots_[i].blocked_until_ns > now_ns;
}

bool SourceBlocker::strike(const IpAddress& source, std::int64_t now_ns) {
  if (!enabled()) return false;
  const IpAddress p = prefix_of(source);
  const std::size_t found = find(p);
  Slot* s = found == kNone ? nullptr : &slots_[found];
  if (s == nullptr) {
    // A slot for a prefix not yet counted, in either of its two sets: a free one, else one
    // whose count has lapsed, else the one with the fewest failures (the oldest of those),
    // never a block. A source that keeps failing climbs above newcomers and stays; only when
    // more prefixes fail within one window than the table holds can one slip out of its count.
    Slot* sets[2] = {&slots_[set_of(p, 0)], &slots_[set_of(p, 1)]};
    std::size_t used[2] = {0, 0};
    for (int choice = 0; choice < 2; ++choice)
      for (std::size_t w = 0; w < ways_; ++w) used[choice] += sets[choice][w].used;
    if (used[1] < used[0]) std::swap(sets[0], sets[1]);  // the emptier set first: two choices balance the table
    auto rank = [&](const Slot& c) -> std::int64_t {
      if (!c.used) return -2;
      if (now_ns - c.window_start_ns >= limits_.window_ns) return -1;
      return c.strikes;
    };
    for (Slot* set : sets) {
      for (std::size_t w = 0; w < ways_; ++w) {
        Slot& c = set[w];
        if (c.used && c.blocked_until_ns > now_ns) continue;
        if (s == nullptr || rank(c) < rank(*s) || (rank(c) == rank(*s) && c.window_start_ns < s->window_start_ns))
          s = &c;
      }
    }
    if (s == nullptr) return false;  // every slot holds a block: keep them
    *s = Slot{p, true, 0, now_ns, 0};
  }
  if (s->blocked_until_ns > now_ns) return false;  // already blocked (a request that was in flight)
  if (now_ns - s->window_start_ns >= limits_.window_ns || now_ns < s->window_start_ns) {
    s->window_start_ns = now_ns;
    s->strikes = 0;
  }
  if (++s->strikes < limits_.strikes) return false;
  s->blocked_until_ns = now_ns + limits_.block_ns;
  s->strikes = 0;
  s->window_start_ns = s->blocked_until_ns;
  return true;
}

}  // namespace hush::policy
