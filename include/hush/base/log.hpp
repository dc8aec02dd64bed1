// Minimal leveled, structured logger: one line per event to stderr, as text
// (`TIME LEVEL message key=value ...`) or JSON (`{"ts":...,"level":...,"msg":...,"key":"value"}`).
// Log lines carry events, reasons and counts, never client or peer addresses, ports,
// usernames, nonces or transaction ids; where an operator wants to follow one source, the
// caller passes a pseudonym (privacy::Pseudonymizer), never the value. See docs/privacy.md.
#pragma once

#include <initializer_list>
#include <string_view>

namespace hush::log {

enum class Level { debug = 0, info = 1, warn = 2, error = 3, off = 4 };
enum class Format { text, json };

struct Field {
  std::string_view key;
  std::string_view value;
};

void set_level(Level level);
Level level();
bool parse_level(std::string_view text, Level& out);
void set_format(Format format);
bool parse_format(std::string_view text, Format& out);
inline bool enabled(Level l) { return l >= level(); }
void write(Level level, std::string_view message, std::initializer_list<Field> fields = {});

inline void debug(std::string_view m) { write(Level::debug, m); }
inline void info(std::string_view m) { write(Level::info, m); }
inline void warn(std::string_view m) { write(Level::warn, m); }
inline void error(std::string_view m) { write(Level::error, m); }

}  // namespace hush::log
