// `hush-relay import-coturn FILE`: a coturn turnserver.conf translated into a hush config file
// (TOML), with one note for every coturn option that was dropped or changed, and why. A pure
// function of the file's text: the command around it reads the file, prints, and writes the
// secret and users files only when asked.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace hush::config {

struct CoturnImportOptions {
  std::string secret_file = "/etc/hush/secret";  // where the config says the REST secrets are
  std::string users_file = "/etc/hush/users";    // and the static users
  // This host's address to relay from when coturn listens on every address (it relays from
  // them all; hush needs one): empty if unknown.
  std::string host_ip;
};

struct CoturnImport {
  std::string toml;                // the hush config file; holds no secret
  std::vector<std::string> notes;  // "line N: option: what happened and why", in file order
  std::vector<std::string> secrets;  // static-auth-secret values, for the secret file (first mints)
  std::vector<std::string> users;    // user= lines as name:password or name:0xKEY, for the users file
};

CoturnImport import_coturn(std::string_view conf, const CoturnImportOptions& options = {});

}  // namespace hush::config
