// RFC 8656 §7.2, §14.9: ports held back by EVEN-PORT with the R bit, redeemed later with a
// RESERVATION-TOKEN. The second Allocate usually comes from another client socket, which the
// kernel may hash to another worker, so the table is shared. A reserved socket is bound but
// read by no worker until a worker adopts it. Control path only: a mutex is fine.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <vector>

#include "hush/turn/port_allocator.hpp"
#include "hush/turn/time.hpp"

namespace hush::turn {

class ReservationTable {
 public:
  explicit ReservationTable(std::size_t max = 4096) : max_(max) {}
  // Returns the token, or nullopt when the table is full (the caller closes the socket).
  std::optional<std::uint64_t> put(const RelaySocket& s, TimePoint expires);
  std::optional<RelaySocket> take(std::uint64_t token);
  // Removes expired entries and hands them to `close`.
  template <class Close>
  void expire(TimePoint now, Close close) {
    std::vector<RelaySocket> due;
    {
      std::lock_guard lock(mutex_);
      std::erase_if(entries_, [&](const Entry& e) {
        if (e.expires > now) return false;
        due.push_back(e.socket);
        return true;
      });
    }
    for (const auto& s : due) close(s);
  }
  // Empties the table (shutdown).
  std::vector<RelaySocket> drain();

 private:
  struct Entry {
    std::uint64_t token;
    RelaySocket socket;
    TimePoint expires;
  };
  std::size_t max_;
  std::mutex mutex_;
  std::vector<Entry> entries_;
};

}  // namespace hush::turn
