// Rate limits in bounded memory: token buckets in a fixed-size table, so a flood of spoofed
// sources or invented caller names costs no more memory than a quiet day. Owned by one
// worker (or behind its owner's lock); no locks inside.
#pragma once

#include <cstdint>
#include <vector>

#include "hush/base/address.hpp"

namespace hush::policy {

// One token bucket per slot, named by a 64-bit identity the caller derives from whatever it
// limits (never 0, which marks an empty slot). The slot comes from the keyed hash
// (base/hash.hpp), so nobody can choose identities that share one. An identity that finds its
// slot held by another starts a full bucket there: a collision can only be generous to the
// two that share the slot, never limit one for the other's traffic.
class TokenBucketTable {
 public:
  explicit TokenBucketTable(std::size_t slots);

  // Takes one token from `key`'s bucket, refilled at `rate` per second up to `burst` (at
  // least 1); false when it is empty. Rate 0 disables limiting. A clock going back refills
  // nothing.
  bool take(std::uint64_t key, double rate, double burst, std::int64_t now_ns);

 private:
  struct Bucket {
    std::uint64_t key = 0;
    double tokens = 0;
    std::int64_t last_ns = 0;
  };
  std::vector<Bucket> buckets_;
};

// Per source prefix (/24 for IPv4, /64 for IPv6): what unauthenticated answers may be sent
// to, since anyone can forge a request's source address.
class PrefixRateLimiter {
 public:
  // `rate` tokens per second, bursts up to `burst`; rate 0 disables limiting.
  PrefixRateLimiter(double rate, double burst, std::size_t slots = 4096);

  // Takes one token for the prefix of `source`; false when the bucket is empty.
  bool allow(const IpAddress& source, std::int64_t now_ns);

 private:
  double rate_;
  double burst_;
  TokenBucketTable buckets_;
};

}  // namespace hush::policy
