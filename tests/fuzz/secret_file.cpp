// libFuzzer: the secret file (--secret-file, --api-key-file): one secret per line, blank lines
// and '#' comments skipped, surrounding blanks and CR dropped. Whatever the text, the result
// is an error or secrets that are non-empty single lines with no surrounding blanks.
#include <string>
#include <string_view>

#include "hush/auth/secret_set.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto set = hush::auth::SecretSet::parse(text, "fuzz");
  if (!set) return 0;
  for (const auto& s : set->all()) {
    if (s.empty() || s.find('\n') != std::string::npos || s.front() == ' ' || s.front() == '\t' || s.front() == '#' ||
        s.back() == ' ' || s.back() == '\t' || s.back() == '\r')
      __builtin_trap();
  }
  return 0;
}
