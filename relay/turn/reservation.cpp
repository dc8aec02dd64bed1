#include "hush/turn/reservation.hpp"

#include <algorithm>

#include "hush/auth/secret_set.hpp"

namespace hush::turn {

std::optional<std::uint64_t> ReservationTable::put(const RelaySocket& s, TimePoint expires) {
  std::uint64_t token = 0;
  while (token == 0) auth::random_bytes(&token, sizeof token);  // unguessable: it claims a port
  std::lock_guard lock(mutex_);
  if (entries_.size() >= max_) return std::nullopt;
  entries_.push_back(Entry{token, s, expires});
  return token;
}

std::optional<RelaySocket> ReservationTable::take(std::uint64_t token) {
  std::lock_guard lock(mutex_);
  auto it = std::find_if(entries_.begin(), entries_.end(), [&](const Entry& e) { return e.token == token; });
  if (it == entries_.end()) return std::nullopt;
  RelaySocket s = it->socket;
  entries_.erase(it);
  return s;
}

std::vector<RelaySocket> ReservationTable::drain() {
  std::lock_guard lock(mutex_);
  std::vector<RelaySocket> out;
  for (const auto& e : entries_) out.push_back(e.socket);
  entries_.clear();
  return out;
}

}  // namespace hush::turn
