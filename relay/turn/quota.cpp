#include "hush/turn/quota.hpp"

namespace hush::turn {

namespace {
template <class Map, class Key>
void decrement(Map& m, const Key& k) {
  auto it = m.find(k);
  if (it == m.end()) return;
  if (--it->second == 0) m.erase(it);
}
}  // namespace

void Quotas::set_limits(QuotaLimits limits) {
  std::lock_guard lock(mutex_);
  limits_ = limits;
}

QuotaResult Quotas::acquire(const std::string& user, const IpAddress& source) {
  std::lock_guard lock(mutex_);
  if (limits_.total != 0 && total_ >= limits_.total) return QuotaResult::over_total;
  auto u = users_.find(user);
  if (limits_.per_user != 0 && u != users_.end() && u->second >= limits_.per_user) return QuotaResult::over_user;
  auto s = sources_.find(source);
  if (limits_.per_source != 0 && s != sources_.end() && s->second >= limits_.per_source)
    return QuotaResult::over_source;
  ++total_;
  if (u != users_.end()) ++u->second;
  else users_.emplace(user, 1);
  if (s != sources_.end()) ++s->second;
  else sources_.emplace(source, 1);
  return QuotaResult::ok;
}

void Quotas::release(const std::string& user, const IpAddress& source) {
  std::lock_guard lock(mutex_);
  if (total_ > 0) --total_;
  decrement(users_, user);
  decrement(sources_, source);
}

std::size_t Quotas::total() const {
  std::lock_guard lock(mutex_);
  return total_;
}

bool Quotas::full() const {
  std::lock_guard lock(mutex_);
  return limits_.total != 0 && total_ >= limits_.total;
}

}  // namespace hush::turn
