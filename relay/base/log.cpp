#include "hush/base/log.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>

namespace hush::log {
namespace {
std::atomic<Level> g_level{Level::info};
std::atomic<Format> g_format{Format::text};

const char* name(Level l) {
  switch (l) {
    case Level::debug: return "debug";
    case Level::info: return "info";
    case Level::warn: return "warn";
    case Level::error: return "error";
    default: return "off";
  }
}

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char u[8];
          std::snprintf(u, sizeof u, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
          out += u;
        } else {
          out += c;
        }
    }
  }
  out += '"';
}
}  // namespace

void set_level(Level level) { g_level.store(level, std::memory_order_relaxed); }
Level level() { return g_level.load(std::memory_order_relaxed); }
void set_format(Format format) { g_format.store(format, std::memory_order_relaxed); }

bool parse_level(std::string_view text, Level& out) {
  for (Level l : {Level::debug, Level::info, Level::warn, Level::error, Level::off}) {
    if (text == name(l)) {
      out = l;
      return true;
    }
  }
  return false;
}

bool parse_format(std::string_view text, Format& out) {
  if (text == "text") out = Format::text;
  else if (text == "json") out = Format::json;
  else return false;
  return true;
}

void write(Level l, std::string_view message, std::initializer_list<Field> fields) {
  if (!enabled(l)) return;
  auto now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&now, &tm);
  char ts[32];
  std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
  std::string line;
  if (g_format.load(std::memory_order_relaxed) == Format::json) {
    line = "{\"ts\":\"";
    line += ts;
    line += "\",\"level\":\"";
    line += name(l);
    line += "\",\"msg\":";
    append_json_string(line, message);
    for (const auto& f : fields) {
      line += ',';
      append_json_string(line, f.key);
      line += ':';
      append_json_string(line, f.value);
    }
    line += '}';
  } else {
    line = ts;
    line += ' ';
    line += name(l);
    line += ' ';
    line += message;
    for (const auto& f : fields) {
      line += ' ';
      line += f.key;
      line += '=';
      line += f.value;
    }
  }
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stderr);  // one call per line: lines never interleave
}

}  // namespace hush::log
