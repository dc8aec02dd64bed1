// A warning for a condition that can repeat per request (out of descriptors, say): logged at
// most once a minute for each `last`, so an exhausted relay does not also flood its log.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string_view>

#include "hush/base/log.hpp"

namespace hush::net {

inline void warn_rarely(std::atomic<std::int64_t>& last, std::string_view message) {
  const std::int64_t now =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
  std::int64_t prev = last.load(std::memory_order_relaxed);
  if ((prev == 0 || now - prev >= 60) && last.compare_exchange_strong(prev, now)) log::warn(message);
}

}  // namespace hush::net
