// Turns the TURN core's events into log lines. Without --log-pseudonyms a line names the
// event and its reason only; with it, the client address and the username appear as
// pseudonyms (privacy::Pseudonymizer), never as they are. Allocation lifecycle lines are
// debug; refusals and failed authentications are info, at most kMaxPerSecond lines per
// second per worker (a flood cannot flood the log), with a count of what was left out.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

#include "hush/privacy/pseudonymizer.hpp"
#include "hush/turn/events.hpp"

namespace hush::net {

class EventLog : public turn::EventSink {
 public:
  static constexpr int kMaxPerSecond = 20;
  EventLog(privacy::Pseudonymizer& pseudonyms, const std::atomic<bool>& pseudonyms_on)
      : pseudonyms_(pseudonyms), on_(pseudonyms_on) {}
  void on_event(const turn::Event& e) override;

 private:
  privacy::Pseudonymizer& pseudonyms_;
  const std::atomic<bool>& on_;
  std::chrono::steady_clock::time_point window_{};
  int in_window_ = 0;
  std::uint64_t suppressed_ = 0;
};

}  // namespace hush::net
