// Allocation quotas shared by every worker: in total, per username (RFC 8656 §7.2 step 10:
// 486 when over quota) and per client IP address. Touched only by Allocate and allocation
// removal, never per packet, so a mutex is fine. Addresses are held in memory only, while
// they have allocations.
#pragma once

#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_map>

#include "hush/base/address.hpp"

namespace hush::turn {

struct QuotaLimits {
  std::size_t total = 0;       // allocations over all workers (0: unlimited)
  std::size_t per_user = 0;    // per username (0: unlimited)
  std::size_t per_source = 0;  // per client IP address (0: unlimited)
};

enum class QuotaResult { ok, over_total, over_user, over_source };

class Quotas {
 public:
  explicit Quotas(QuotaLimits limits = {}) : limits_(limits) {}
  // New limits apply to the next acquire; allocations over them are kept.
  void set_limits(QuotaLimits limits);
  QuotaResult acquire(const std::string& user, const IpAddress& source);
  void release(const std::string& user, const IpAddress& source);
  std::size_t total() const;
  bool full() const;  // no room for one more allocation in total

 private:
  mutable std::mutex mutex_;
  QuotaLimits limits_;
  std::size_t total_ = 0;
  std::unordered_map<std::string, std::size_t> users_;
  std::unordered_map<IpAddress, std::size_t> sources_;
};

}  // namespace hush::turn
