// libFuzzer: the configuration file (--config, TOML/INI through CLI11) and the validation of
// every option it sets. Whatever the text, parsing ends in a configuration or in one error
// line and exit code 2: never an exception, a crash or a hang.
#include <sys/mman.h>
#include <unistd.h>

#include <sstream>
#include <string>

#include "hush/config/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 4096) return 0;
  static const int fd = ::memfd_create("hush-config", 0);
  if (fd < 0) return 0;
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, data, size, 0) != static_cast<ssize_t>(size)) return 0;
  static const std::string path = "/proc/self/fd/" + std::to_string(fd);
  const char* argv[] = {"hush-relay", "--config", path.c_str()};
  std::ostringstream errors;
  const auto parsed = hush::config::parse(3, argv, errors);
  if (parsed.command == hush::config::Command::exit && parsed.exit_code != 0 && parsed.exit_code != 2) __builtin_trap();
  if (parsed.exit_code == 2 && errors.str().empty()) __builtin_trap();  // a refusal says why
  return 0;
}
