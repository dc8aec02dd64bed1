// RFC 8489 §9.2.4: checks a request's long-term credentials against static users (if any) and
// REST shared secrets.
// The caller turns each failure into the RFC's response (turn::Server decides codes).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "hush/auth/nonce.hpp"
#include "hush/auth/secret_set.hpp"
#include "hush/auth/user_table.hpp"
#include "hush/base/result.hpp"
#include "hush/stun/message.hpp"

namespace hush::auth {

enum class AuthFailure {
  no_integrity,         // 401 challenge with REALM and NONCE
  missing_attributes,   // 400: integrity without USERNAME, REALM or NONCE
  stale_nonce,          // 438
  bad_username,         // 401: neither a static user nor a REST username
  expired_credential,   // 401: REST expiry in the past
  bad_integrity,        // 401: no key (the static user's, or a secret's) produces this HMAC
};

struct Credentials {
  std::string username;
  std::array<std::byte, 32> key{};
  std::size_t key_size = 0;
  // Which integrity attributes the request carried; the response carries the same ones.
  bool sha1 = false;
  bool sha256 = false;
  Bytes key_bytes() const { return {key.data(), key_size}; }
};

class Authenticator {
 public:
  // A username found in `users` is checked against that user's key only; any other must be a
  // REST username.
  Authenticator(std::string realm, SecretSet secrets, std::shared_ptr<const NonceIssuer> nonces,
                UserTable users = {});

  const std::string& realm() const { return realm_; }
  const NonceIssuer& nonces() const { return *nonces_; }
  const SecretSet& secrets() const { return secrets_; }
  const UserTable& users() const { return users_; }

  Result<Credentials, AuthFailure> authenticate(const stun::MessageView& m, std::int64_t now_unix,
                                                const Endpoint& client) const;

 private:
  std::string realm_;
  SecretSet secrets_;
  UserTable users_;
  std::shared_ptr<const NonceIssuer> nonces_;
};

}  // namespace hush::auth
