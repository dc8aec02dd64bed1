#include "hush/auth/nonce.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstring>

#include "hush/auth/base64.hpp"
#include "hush/stun/integrity.hpp"

namespace hush::auth {

NonceIssuer::NonceIssuer(std::array<std::uint8_t, 32> key, std::int64_t lifetime)
    : key_(key), lifetime_(lifetime) {}

NonceIssuer NonceIssuer::with_key_from_secret(std::string_view secret, std::int64_t lifetime) {
  static constexpr std::string_view kLabel = "hush nonce key 1";
  std::array<std::uint8_t, 32> key{};
  unsigned size = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()), reinterpret_cast<const unsigned char*>(kLabel.data()),
       kLabel.size(), key.data(), &size);
  NonceIssuer issuer(key, lifetime);
  OPENSSL_cleanse(key.data(), key.size());
  return issuer;
}

NonceIssuer::~NonceIssuer() { OPENSSL_cleanse(key_.data(), key_.size()); }

void NonceIssuer::mac(std::uint32_t expiry, const Endpoint& client, std::uint8_t* out8) const {
  // The address, not the port: RFC 6062 data connections come from new ports of the client
  // and present the nonce the control connection was given.
  std::byte input[4 + 16 + 1];
  store_u32(input, expiry);
  std::memset(input + 4, 0, 16);
  std::memcpy(input + 4, client.ip.data(), client.ip.size());
  input[20] = std::byte{client.ip.is_v4() ? std::uint8_t{4} : std::uint8_t{6}};
  auto full = stun::hmac_sha1({reinterpret_cast<const std::byte*>(key_.data()), key_.size()}, input);
  std::memcpy(out8, full.data(), 8);
}

void NonceIssuer::issue(std::int64_t now, const Endpoint& client, char* out) const {
  std::uint8_t raw[12];
  const auto expiry = static_cast<std::uint32_t>(now + lifetime_);
  store_u32(reinterpret_cast<std::byte*>(raw), expiry);
  mac(expiry, client, raw + 4);
  const std::string text = base64url({reinterpret_cast<const std::byte*>(raw), sizeof raw});
  std::memcpy(out, text.data(), kEncodedSize);
}

std::string NonceIssuer::issue(std::int64_t now, const Endpoint& client) const {
  std::string s(kEncodedSize, '\0');
  issue(now, client, s.data());
  return s;
}

NonceCheck NonceIssuer::check(std::string_view nonce, std::int64_t now, const Endpoint& client) const {
  if (nonce.size() != kEncodedSize) return NonceCheck::stale;
  auto raw = base64url_decode(nonce);
  if (!raw || raw->size() != 12) return NonceCheck::stale;
  const auto* p = reinterpret_cast<const std::byte*>(raw->data());
  const std::uint32_t expiry = load_u32(p);
  std::uint8_t expect[8];
  mac(expiry, client, expect);
  if (CRYPTO_memcmp(expect, p + 4, 8) != 0) return NonceCheck::stale;
  if (static_cast<std::int64_t>(expiry) < now) return NonceCheck::stale;
  return NonceCheck::valid;
}

}  // namespace hush::auth
