// `hush-relay import-coturn FILE`: coturn's turnserver.conf as a hush config file on stdout,
// what changed on stderr; with --write-secrets, the secrets and static users into their own
// files, never over an existing one.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "app.hpp"
#include "hush/config/coturn_import.hpp"
#include "hush/net/host_addresses.hpp"
#include "hush/policy/special_purpose.hpp"

namespace hush::app {
namespace {

// One line per entry, mode 0600, created anew. False (with the reason on stderr) otherwise.
bool write_private(const std::string& path, const std::vector<std::string>& lines) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    std::cerr << "hush-relay import-coturn: " << path << ": " << std::strerror(errno)
              << (errno == EEXIST ? " (not overwritten)" : "") << "\n";
    return false;
  }
  std::string text;
  for (const auto& l : lines) text += l + "\n";
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  if (!ok) std::cerr << "hush-relay import-coturn: " << path << ": write failed\n";
  return ok;
}

}  // namespace

int import_coturn(const config::ImportRequest& request) {
  std::ifstream in(request.file);
  if (!in) {
    std::cerr << "hush-relay import-coturn: " << request.file << ": " << std::strerror(errno) << "\n";
    return 2;
  }
  std::ostringstream text;
  text << in.rdbuf();
  // Where to relay from if coturn listened everywhere: this host's first globally reachable
  // address, else its first that is neither loopback nor link-local; IPv4 first.
  std::string host_ip;
  const auto addresses = net::host_addresses();
  for (const bool global : {true, false})
    for (const bool v4 : {true, false})
      for (const auto& a : addresses) {
        if (!host_ip.empty() || a.is_v4() != v4) continue;
        const auto name = a.to_string();
        const bool local = name.rfind("127.", 0) == 0 || name == "::1" || name.rfind("169.254.", 0) == 0 ||
                           name.rfind("fe80:", 0) == 0;
        const auto* block = policy::most_specific_block(a);
        if (!local && (!global || block == nullptr || block->verdict != policy::Verdict::deny)) host_ip = name;
      }
  const auto result = config::import_coturn(
      text.str(), config::CoturnImportOptions{request.secret_file, request.users_file, host_ip});
  std::cout << result.toml;
  for (const auto& note : result.notes) std::cerr << "hush-relay import-coturn: " << note << "\n";
  if (result.secrets.empty() && result.users.empty()) return 0;
  if (!request.write_secrets) {
    std::cerr << "hush-relay import-coturn: the secrets and users were not written: run again with --write-secrets "
                 "to create "
              << (result.secrets.empty() ? request.users_file
                  : result.users.empty() ? request.secret_file
                                         : request.secret_file + " and " + request.users_file)
              << "\n";
    return 0;
  }
  bool ok = true;
  if (!result.secrets.empty()) ok = write_private(request.secret_file, result.secrets) && ok;
  if (!result.users.empty()) ok = write_private(request.users_file, result.users) && ok;
  return ok ? 0 : 1;
}

}  // namespace hush::app
