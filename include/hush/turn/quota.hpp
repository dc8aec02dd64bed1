// Allocations per username across all workers (RFC 8656 §7.2 step 10: 486 when over quota).
// Touched only by Allocate and allocation removal, never per packet, so a mutex is fine.
#pragma once

#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_map>

namespace hush::turn {

class UserQuota {
 public:
  explicit UserQuota(std::size_t per_user) : per_user_(per_user) {}
  bool acquire(const std::string& user);
  void release(const std::string& user);

 private:
  std::size_t per_user_;  // 0: unlimited
  std::mutex mutex_;
  std::unordered_map<std::string, std::size_t> counts_;
};

}  // namespace hush::turn
