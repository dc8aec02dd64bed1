// The line format of --secret-file, --api-key-file and --users-file: blank lines and lines
// starting with '#' are skipped, surrounding blanks and a CR dropped.
#pragma once

#include <cstddef>
#include <string_view>

namespace hush::auth {

// Calls f(line, number) for each line that holds something, numbered from 1; stops early
// when f returns false.
template <class F>
void for_each_line(std::string_view text, F&& f) {
  std::size_t number = 0;
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    ++number;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
    const std::size_t start = line.find_first_not_of(" \t");
    if (start == std::string_view::npos || line[start] == '#') continue;
    if (!f(line.substr(start), number)) return;
  }
}

}  // namespace hush::auth
