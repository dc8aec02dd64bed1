#include "hush/base/log.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>

namespace hush::log {
namespace {
std::atomic<Level> g_level{Level::info};
const char* name(Level l) {
  switch (l) {
    case Level::debug: return "debug";
    case Level::info: return "info";
    case Level::warn: return "warn";
    case Level::error: return "error";
    default: return "off";
  }
}
}  // namespace

void set_level(Level level) { g_level.store(level, std::memory_order_relaxed); }
Level level() { return g_level.load(std::memory_order_relaxed); }

bool parse_level(std::string_view text, Level& out) {
  for (Level l : {Level::debug, Level::info, Level::warn, Level::error, Level::off}) {
    if (text == name(l)) {
      out = l;
      return true;
    }
  }
  return false;
}

void write(Level l, std::string_view message) {
  if (l < level()) return;
  auto now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&now, &tm);
  char ts[32];
  std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
  std::fprintf(stderr, "%s %s %.*s\n", ts, name(l), static_cast<int>(message.size()),
               message.data());
}

}  // namespace hush::log
