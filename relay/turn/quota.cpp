#include "hush/turn/quota.hpp"

namespace hush::turn {

bool UserQuota::acquire(const std::string& user) {
  if (per_user_ == 0) return true;
  std::lock_guard lock(mutex_);
  auto& n = counts_[user];
  if (n >= per_user_) {
    if (n == 0) counts_.erase(user);
    return false;
  }
  ++n;
  return true;
}

void UserQuota::release(const std::string& user) {
  if (per_user_ == 0) return;
  std::lock_guard lock(mutex_);
  auto it = counts_.find(user);
  if (it == counts_.end()) return;
  if (--it->second == 0) counts_.erase(it);
}

}  // namespace hush::turn
