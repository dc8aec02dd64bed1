// libFuzzer: the secret file (--secret-file, --api-key-file): one secret per line, blank lines
// and '#' comments skipped, surrounding blanks and CR dropped. Whatever the text, the result
// is an error or secrets that are non-empty single lines with no surrounding blanks, and
// reading the same text from a file gives the same. The same text as a --users-file gives an
// error or a non-empty table.
#include <sys/mman.h>
#include <unistd.h>

#include <string>
#include <string_view>

#include "hush/auth/secret_set.hpp"
#include "hush/auth/user_table.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto users = hush::auth::UserTable::parse(text, "hush", "fuzz"); users && users->empty()) __builtin_trap();
  auto set = hush::auth::SecretSet::parse(text, "fuzz");
  // The file reader says the same as the parser of its text.
  static const int fd = ::memfd_create("hush-secrets", 0);
  static const std::string path = "/proc/self/fd/" + std::to_string(fd);
  if (fd >= 0 && ::ftruncate(fd, 0) == 0 && ::pwrite(fd, data, size, 0) == static_cast<ssize_t>(size)) {
    auto from_file = hush::auth::SecretSet::load_file(path);
    if (from_file.ok() != set.ok() || (set.ok() && from_file->all() != set->all())) __builtin_trap();
  }
  if (!set) return 0;
  for (const auto& s : set->all()) {
    if (s.empty() || s.find('\n') != std::string::npos || s.front() == ' ' || s.front() == '\t' || s.front() == '#' ||
        s.back() == ' ' || s.back() == '\t' || s.back() == '\r')
      __builtin_trap();
  }
  return 0;
}
