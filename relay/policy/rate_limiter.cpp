#include "hush/policy/rate_limiter.hpp"

#include <algorithm>
#include <cstring>

#include "hush/base/hash.hpp"

namespace hush::policy {

TokenBucketTable::TokenBucketTable(std::size_t slots) : buckets_(std::max<std::size_t>(slots, 1)) {}

bool TokenBucketTable::take(std::uint64_t key, double rate, double burst, std::int64_t now_ns) {
  if (rate <= 0) return true;
  burst = std::max(burst, 1.0);
  Bucket& b = buckets_[hash_bytes(&key, sizeof key) % buckets_.size()];
  if (b.key != key) b = Bucket{key, burst, now_ns};  // empty, or another's: start this one afresh
  const double elapsed = static_cast<double>(std::max<std::int64_t>(now_ns - b.last_ns, 0)) / 1e9;
  b.tokens = std::min(burst, b.tokens + elapsed * rate);
  b.last_ns = std::max(b.last_ns, now_ns);
  if (b.tokens < 1.0) return false;
  b.tokens -= 1.0;
  return true;
}

PrefixRateLimiter::PrefixRateLimiter(double rate, double burst, std::size_t slots)
    : rate_(rate), burst_(burst), buckets_(slots) {}

bool PrefixRateLimiter::allow(const IpAddress& source, std::int64_t now_ns) {
  std::uint64_t key = 0;
  if (source.is_v4()) {
    key = (std::uint64_t{1} << 62) | (source.v4_host_order() >> 8);
  } else {
    // The /64 as it is: setting a bit to keep 0 out would join neighbouring prefixes. 0
    // (::/64) and the IPv4 keys' range (4000:0:00xx:xxxx::/64) are no source's prefix.
    std::memcpy(&key, source.data(), 8);
    if (key == 0) key = 1;
  }
  return buckets_.take(key, rate_, burst_, now_ns);
}

}  // namespace hush::policy
