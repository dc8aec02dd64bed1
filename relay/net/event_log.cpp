#include "hush/net/event_log.hpp"

#include <string>

#include "hush/base/log.hpp"

namespace hush::net {

namespace {
const char* message(turn::EventKind k) {
  switch (k) {
    case turn::EventKind::allocation_created: return "allocation created";
    case turn::EventKind::allocation_expired: return "allocation expired";
    case turn::EventKind::allocation_deleted: return "allocation deleted";
    case turn::EventKind::allocation_refused: return "allocation refused";
    case turn::EventKind::auth_failed: return "authentication failed";
    case turn::EventKind::source_blocked: return "source blocked";
  }
  return "event";
}
}  // namespace

void EventLog::on_event(const turn::Event& e) {
  const bool notable = e.kind == turn::EventKind::allocation_refused || e.kind == turn::EventKind::auth_failed ||
                       e.kind == turn::EventKind::source_blocked;
  const log::Level level = notable ? log::Level::info : log::Level::debug;
  if (!log::enabled(level)) return;
  const auto now = std::chrono::steady_clock::now();
  if (now - window_ >= std::chrono::seconds(1)) {
    if (suppressed_ > 0)
      log::write(log::Level::info, "events not logged (over the per-second limit)",
                 {{"count", std::to_string(suppressed_)}});
    window_ = now;
    in_window_ = 0;
    suppressed_ = 0;
  }
  if (++in_window_ > kMaxPerSecond) {
    ++suppressed_;
    return;
  }
  const std::string reason(e.reason);
  if (!on_.load(std::memory_order_relaxed)) {
    if (reason.empty()) log::write(level, message(e.kind));
    else log::write(level, message(e.kind), {{"reason", reason}});
    return;
  }
  const std::string source = pseudonyms_.source(e.client.ip, now);
  const std::string user = e.username.empty() ? std::string("-") : pseudonyms_.user(e.username, now);
  if (reason.empty()) log::write(level, message(e.kind), {{"source", source}, {"user", user}});
  else log::write(level, message(e.kind), {{"reason", reason}, {"source", source}, {"user", user}});
}

}  // namespace hush::net
