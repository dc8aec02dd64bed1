#pragma once

#include "hush/auth/rest_credential.hpp"
#include "hush/config/config.hpp"

namespace hush::app {

int print_credential(const config::CredentialRequest& request);
std::string credential_json(const auth::RestCredential& c, std::int64_t ttl, const std::vector<std::string>& uris);
int run(const config::Config& config);

}  // namespace hush::app
