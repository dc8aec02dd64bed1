#pragma once

#include "hush/auth/rest_credential.hpp"
#include "hush/config/config.hpp"

namespace hush::app {

int print_credential(const config::CredentialRequest& request);
int import_coturn(const config::ImportRequest& request);
inline constexpr const char* kVersion = "0.1.0";
// argv is kept: SIGHUP parses it again, which re-reads --config and --secret-file.
int run(const config::Config& config, int argc, const char* const* argv);
// --check-config: the options were valid; the secret file must load too.
int check_config(const config::Config& config);

}  // namespace hush::app
