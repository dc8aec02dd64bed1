// `hush-relay credential`: a REST credential that names nobody, as JSON (the TURN REST API
// draft's response shape).
#include <chrono>
#include <iostream>
#include <string>

#include "app.hpp"
#include "hush/auth/rest_credential.hpp"

namespace hush::app {
int print_credential(const config::CredentialRequest& request) {
  auto secrets = auth::SecretSet::load_file(request.secret_file);
  if (!secrets) {
    std::cerr << "hush-relay: --secret-file: " << secrets.error() << "\n";
    return 2;
  }
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch()).count();
  auto cred = auth::mint_credential(*secrets, now, request.ttl);
  std::cout << auth::credential_json(cred, request.ttl, request.uris) << std::endl;
  return 0;
}

}  // namespace hush::app
