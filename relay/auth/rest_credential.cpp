#include "hush/auth/rest_credential.hpp"

#include <charconv>

#include "hush/auth/base64.hpp"
#include "hush/stun/integrity.hpp"

namespace hush::auth {

std::string rest_password(std::string_view secret, std::string_view username) {
  auto mac = stun::hmac_sha1(as_bytes(secret), as_bytes(username));
  return base64(mac);
}

std::optional<std::int64_t> rest_expiry(std::string_view username) {
  // coturn reads the leading decimal timestamp up to the separator.
  const auto sep = username.find(':');
  std::string_view digits = username.substr(0, sep);
  if (digits.empty() || digits.size() > 18) return std::nullopt;
  std::int64_t value = 0;
  auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc{} || p != digits.data() + digits.size() || value < 0) return std::nullopt;
  return value;
}

RestCredential mint_credential(const SecretSet& secrets, std::int64_t now_unix, std::int64_t ttl) {
  std::byte nonce[9];
  random_bytes(nonce, sizeof nonce);
  const std::int64_t expiry = now_unix + ttl;
  std::string username = std::to_string(expiry) + ":" + base64url(nonce);
  std::string password = rest_password(secrets.minting(), username);
  return RestCredential{std::move(username), std::move(password), expiry};
}

}  // namespace hush::auth
