// Pseudonyms for log lines (--log-pseudonyms): a keyed hash of a client address or a
// username, so an operator can follow one abusive source through the logs for a day
// without the logs ever holding the address. The key is random, lives only in this
// process's memory and is replaced every `period` (24 h by default), after which the same
// source gets a new, unlinkable pseudonym; a restart replaces it too.
#pragma once

#include <array>
#include <chrono>
#include <mutex>
#include <string>
#include <string_view>

#include "hush/base/address.hpp"

namespace hush::privacy {

class Pseudonymizer {
 public:
  using Clock = std::chrono::steady_clock;
  explicit Pseudonymizer(std::chrono::seconds period = std::chrono::hours(24));
  ~Pseudonymizer();  // wipes the key

  // "s-" or "u-" followed by 12 base32 characters (60 bits). Thread-safe.
  std::string source(const IpAddress& address, Clock::time_point now);
  std::string user(std::string_view username, Clock::time_point now);

 private:
  std::string pseudonym(char kind, const void* data, std::size_t size, Clock::time_point now);

  std::mutex mutex_;
  std::chrono::seconds period_;
  Clock::time_point rotate_at_{};
  std::array<unsigned char, 32> key_{};
};

}  // namespace hush::privacy
