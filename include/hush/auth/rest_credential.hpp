// TURN REST API credentials (draft-uberti-behave-turn-rest, as coturn's use-auth-secret):
// username = "EXPIRY" or "EXPIRY:anything", password = base64(HMAC-SHA1(secret, username)).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hush/auth/secret_set.hpp"

namespace hush::auth {

struct RestCredential {
  std::string username;
  std::string password;
  std::int64_t expiry_unix;
};

std::string rest_password(std::string_view secret, std::string_view username);

// Unix expiry encoded in a REST username, or nullopt if it has none.
std::optional<std::int64_t> rest_expiry(std::string_view username);

// A credential that names nobody: "EXPIRY:RANDOM" with 9 random bytes.
RestCredential mint_credential(const SecretSet& secrets, std::int64_t now_unix, std::int64_t ttl_seconds);

// The TURN REST API draft's answer: {"username":...,"password":...,"ttl":...,"uris":[...]}.
std::string credential_json(const RestCredential& c, std::int64_t ttl, const std::vector<std::string>& uris);

}  // namespace hush::auth
