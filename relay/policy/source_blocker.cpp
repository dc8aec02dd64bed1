#include "hush/policy/source_blocker.hpp"

#include <algorithm>
#include <cstring>

#include "hush/base/hash.hpp"

namespace hush::policy {

SourceBlocker::SourceBlocker(BlockLimits limits, std::size_t slots)
    : limits_(limits), slots_(limits.strikes == 0 ? 1 : std::max<std::size_t>(slots, 1)) {}

IpAddress SourceBlocker::prefix_of(const IpAddress& a) {
  if (a.is_v4()) return a;
  std::uint8_t b[16] = {};
  std::memcpy(b, a.data(), 8);
  return IpAddress::v6_bytes(b);
}

std::size_t SourceBlocker::slot_of(const IpAddress& prefix) const {
  return hash_bytes(prefix.data(), prefix.size(), prefix.is_v4() ? 4 : 6) % slots_.size();
}

bool SourceBlocker::blocked(const IpAddress& source, std::int64_t now_ns) const {
  if (!enabled()) return false;
  const IpAddress p = prefix_of(source);
  const Slot& s = slots_[slot_of(p)];
  return s.used && s.prefix == p && s.blocked_until_ns > now_ns;
}

bool SourceBlocker::strike(const IpAddress& source, std::int64_t now_ns) {
  if (!enabled()) return false;
  const IpAddress p = prefix_of(source);
  Slot& s = slots_[slot_of(p)];
  if (!s.used || s.prefix != p) {
    if (s.used && s.blocked_until_ns > now_ns) return false;  // keep another's block
    s = Slot{p, true, 0, now_ns, 0};
  }
  if (s.blocked_until_ns > now_ns) return false;  // already blocked (a request that was in flight)
  if (now_ns - s.window_start_ns >= limits_.window_ns || now_ns < s.window_start_ns) {
    s.window_start_ns = now_ns;
    s.strikes = 0;
  }
  if (++s.strikes < limits_.strikes) return false;
  s.blocked_until_ns = now_ns + limits_.block_ns;
  s.strikes = 0;
  s.window_start_ns = s.blocked_until_ns;
  return true;
}

}  // namespace hush::policy
