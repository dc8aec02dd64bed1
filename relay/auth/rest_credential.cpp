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

namespace {
std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) continue;  // never in our values; never emitted raw
    out += c;
  }
  return out + "\"";
}
}  // namespace

std::string credential_json(const RestCredential& c, std::int64_t ttl, const std::vector<std::string>& uris) {
  std::string out = "{\"username\":" + json_string(c.username) + ",\"password\":" + json_string(c.password) +
                    ",\"ttl\":" + std::to_string(ttl) + ",\"uris\":[";
  for (std::size_t i = 0; i < uris.size(); ++i) {
    if (i > 0) out += ',';
    out += json_string(uris[i]);
  }
  return out + "]}";
}

}  // namespace hush::auth
