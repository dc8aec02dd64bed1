// Time comes in as an argument: the worker reads the clocks, the core never does.
#pragma once

#include <chrono>
#include <cstdint>

namespace hush::turn {

using TimePoint = std::chrono::steady_clock::time_point;
using Seconds = std::chrono::seconds;

struct Now {
  TimePoint mono;      // lifetimes, rate limits
  std::int64_t unix;   // REST credential expiry and nonces, which cross machines
  std::int64_t mono_ns() const {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(mono.time_since_epoch()).count();
  }
};

}  // namespace hush::turn
