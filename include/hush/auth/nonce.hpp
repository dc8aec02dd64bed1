// RFC 8489 §9.2: stateless nonces. A nonce is base64url(expiry || MAC(key, expiry || client IP)),
// so any worker can check one without shared state, and it stops working after its lifetime.
// It is bound to the client's address, not its port, so a client's RFC 6062 data connections
// can use the nonce its control connection was given (coturn's uclient relies on that).
//
// The key is derived from the shared secret that mints credentials (random unless the operator
// gives one), so relays that share the secret accept each other's nonces. That is what makes
// 300 Try Alternate work for libwebrtc (Chromium, Chrome, Edge, Electron apps): it sends its
// Allocate to the alternate with the nonce the first relay gave it and takes 438 Stale Nonce
// on an Allocate as final.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "hush/base/address.hpp"

namespace hush::auth {

enum class NonceCheck { valid, stale };

class NonceIssuer {
 public:
  static constexpr std::size_t kEncodedSize = 16;

  NonceIssuer(std::array<std::uint8_t, 32> key, std::int64_t lifetime_seconds);
  // HMAC-SHA256(secret, a fixed label): the same on every relay given the same secret.
  static NonceIssuer with_key_from_secret(std::string_view secret, std::int64_t lifetime_seconds);
  ~NonceIssuer();

  // Writes kEncodedSize characters.
  void issue(std::int64_t now_unix, const Endpoint& client, char* out) const;
  std::string issue(std::int64_t now_unix, const Endpoint& client) const;
  // Anything not minted here for this client address, or expired, is stale (438 makes the client retry).
  NonceCheck check(std::string_view nonce, std::int64_t now_unix, const Endpoint& client) const;

 private:
  void mac(std::uint32_t expiry, const Endpoint& client, std::uint8_t* out8) const;

  std::array<std::uint8_t, 32> key_;
  std::int64_t lifetime_;
};

}  // namespace hush::auth
