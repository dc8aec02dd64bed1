// Accepting while the process is out of descriptors (EMFILE, ENFILE) or socket memory
// (ENOBUFS, ENOMEM) fails and leaves the connection queued, so the listener stays readable:
// accepting again at once would spin a core until a descriptor frees (and starve the
// worker's UDP traffic of it). Such a failure waits kAcceptRetry before the next accept;
// anything else (a connection reset while queued) accepts again at once.
#pragma once

#include <atomic>
#include <cerrno>
#include <chrono>
#include <string>

#include <boost/asio/steady_timer.hpp>
#include <boost/system/error_code.hpp>

#include "warn_rarely.hpp"

namespace hush::net {

inline constexpr std::chrono::milliseconds kAcceptRetry{100};

inline bool accept_must_wait(const boost::system::error_code& ec) {
  if (ec.category() != boost::system::system_category()) return false;
  const int e = ec.value();
  return e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM;
}

// Calls `again()` now, or kAcceptRetry later after a resource failure (and warns, rarely).
template <class Again>
void accept_again(const boost::system::error_code& ec, boost::asio::steady_timer& retry, Again again) {
  if (!accept_must_wait(ec)) return again();
  static std::atomic<std::int64_t> last_warning{0};  // one for each kind of listener
  warn_rarely(last_warning,
              "cannot accept TCP connections: " + ec.message() + "; new connections wait until descriptors free");
  retry.expires_after(kAcceptRetry);
  retry.async_wait([again](const boost::system::error_code& e) {
    if (!e) again();
  });
}

}  // namespace hush::net
