#include "hush/policy/rate_limiter.hpp"

#include <algorithm>
#include <cstring>

namespace hush::policy {

PrefixRateLimiter::PrefixRateLimiter(double rate, double burst, std::size_t slots)
    : rate_(rate), burst_(std::max(burst, 1.0)), buckets_(std::max<std::size_t>(slots, 1)) {}

bool PrefixRateLimiter::allow(const IpAddress& source, std::int64_t now_ns) {
  if (rate_ <= 0) return true;
  std::uint64_t key = 0;
  if (source.is_v4()) {
    key = (std::uint64_t{1} << 62) | (source.v4_host_order() >> 8);
  } else {
    std::memcpy(&key, source.data(), 8);
    key |= 1;  // never 0, which marks an empty slot
  }
  Bucket& b = buckets_[hash_bytes(&key, sizeof key) % buckets_.size()];
  if (b.key != key) {  // empty slot, or another prefix: start this one afresh
    b.key = key;
    b.tokens = burst_;
    b.last_ns = now_ns;
  }
  const double elapsed = static_cast<double>(std::max<std::int64_t>(now_ns - b.last_ns, 0)) / 1e9;
  b.tokens = std::min(burst_, b.tokens + elapsed * rate_);
  b.last_ns = now_ns;
  if (b.tokens < 1.0) return false;
  b.tokens -= 1.0;
  return true;
}

}  // namespace hush::policy
