// libFuzzer: hush-relay import-coturn. Whatever turnserver.conf it is given, the translation
// ends with notes and a config text, never a crash or a hang; a secret it moved out never
// stays in the text; and the text, read back as hush's config file, gives a configuration or
// one error line naming an option (exit code 2), as the config_file target demands of any file.
#include <sys/mman.h>
#include <unistd.h>

#include <sstream>
#include <string>

#include "hush/config/config.hpp"
#include "hush/config/coturn_import.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 4096) return 0;
  hush::config::CoturnImportOptions options;
  options.host_ip = "192.0.2.1";
  const auto r = hush::config::import_coturn({reinterpret_cast<const char*>(data), size}, options);
  for (const auto& n : r.notes)
    if (n.empty()) __builtin_trap();
  // A secret moved out never flows into the text: with the secret's one occurrence in the
  // input overwritten, the text stays the same. (Finding the secret in the text is not enough:
  // a secret such as `n = ["0.0.0.0:3478"]` is also a piece of a listen line the import writes.)
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  for (const auto& s : r.secrets) {
    if (s.size() < 16 || r.toml.find(s) == std::string::npos || input.find(s) != input.rfind(s)) continue;
    std::string other(input);
    other.replace(other.find(s), s.size(), std::string(s.size(), s.front() == 'Z' ? 'Y' : 'Z'));
    if (hush::config::import_coturn(other, options).toml != r.toml) __builtin_trap();
  }
  static const int fd = ::memfd_create("hush-import", 0);
  if (fd < 0) return 0;
  if (::ftruncate(fd, 0) != 0 ||
      ::pwrite(fd, r.toml.data(), r.toml.size(), 0) != static_cast<ssize_t>(r.toml.size()))
    return 0;
  static const std::string path = "/proc/self/fd/" + std::to_string(fd);
  const char* argv[] = {"hush-relay", "--config", path.c_str()};
  std::ostringstream errors;
  const auto parsed = hush::config::parse(3, argv, errors);
  if (parsed.command == hush::config::Command::exit && parsed.exit_code != 0 && parsed.exit_code != 2) __builtin_trap();
  if (parsed.exit_code == 2 && errors.str().empty()) __builtin_trap();
  return 0;
}
