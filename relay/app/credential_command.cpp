// `hush-relay credential`: a REST credential that names nobody, as JSON (the TURN REST API
// draft's response shape).
#include <chrono>
#include <iostream>
#include <string>

#include "app.hpp"
#include "hush/auth/rest_credential.hpp"

namespace hush::app {
namespace {

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace

std::string credential_json(const auth::RestCredential& c, std::int64_t ttl, const std::vector<std::string>& uris) {
  std::string out = "{\"username\":" + json_string(c.username) + ",\"password\":" + json_string(c.password) +
                    ",\"ttl\":" + std::to_string(ttl) + ",\"uris\":[";
  for (std::size_t i = 0; i < uris.size(); ++i) {
    if (i > 0) out += ',';
    out += json_string(uris[i]);
  }
  return out + "]}";
}

int print_credential(const config::CredentialRequest& request) {
  auto secrets = auth::SecretSet::load_file(request.secret_file);
  if (!secrets) {
    std::cerr << "hush-relay: --secret-file: " << secrets.error() << "\n";
    return 2;
  }
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch()).count();
  auto cred = auth::mint_credential(*secrets, now, request.ttl);
  std::cout << credential_json(cred, request.ttl, request.uris) << std::endl;
  return 0;
}

}  // namespace hush::app
