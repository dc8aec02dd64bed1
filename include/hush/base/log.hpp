// Minimal leveled logger. Log lines carry events and counts, never client or peer
// addresses, ports, usernames, nonces or transaction ids (see docs/privacy.md).
#pragma once

#include <string_view>

namespace hush::log {

enum class Level { debug = 0, info = 1, warn = 2, error = 3, off = 4 };

void set_level(Level level);
Level level();
bool parse_level(std::string_view text, Level& out);
void write(Level level, std::string_view message);

inline void debug(std::string_view m) { write(Level::debug, m); }
inline void info(std::string_view m) { write(Level::info, m); }
inline void warn(std::string_view m) { write(Level::warn, m); }
inline void error(std::string_view m) { write(Level::error, m); }

}  // namespace hush::log
