// Token buckets per source prefix (/24 for IPv4, /64 for IPv6) in a fixed-size table, so a
// flood of spoofed sources costs bounded memory. Owned by one worker; no locks.
#pragma once

#include <cstdint>
#include <vector>

#include "hush/base/address.hpp"

namespace hush::policy {

class PrefixRateLimiter {
 public:
  // `rate` tokens per second, bursts up to `burst`; rate 0 disables limiting.
  PrefixRateLimiter(double rate, double burst, std::size_t slots = 4096);

  // Takes one token for the prefix of `source`; false when the bucket is empty.
  bool allow(const IpAddress& source, std::int64_t now_ns);

 private:
  struct Bucket {
    std::uint64_t key = 0;
    double tokens = 0;
    std::int64_t last_ns = 0;
  };
  double rate_;
  double burst_;
  std::vector<Bucket> buckets_;
};

}  // namespace hush::policy
