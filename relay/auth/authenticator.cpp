#include "hush/auth/authenticator.hpp"

#include <openssl/crypto.h>

#include <cstring>

#include "hush/auth/rest_credential.hpp"
#include "hush/stun/integrity.hpp"

namespace hush::auth {

Authenticator::Authenticator(std::string realm, SecretSet secrets, std::shared_ptr<const NonceIssuer> nonces,
                             UserTable users)
    : realm_(std::move(realm)), secrets_(std::move(secrets)), users_(std::move(users)), nonces_(std::move(nonces)) {}

namespace {

// Whether `key` produces the request's integrity attribute; fills `c` for the answer if so.
bool verifies(const stun::MessageView& m, Bytes key, std::string_view username, Credentials& c) {
  const bool ok = m.has_integrity_sha256() ? m.verify_integrity_sha256(key) : m.verify_integrity(key);
  if (!ok) return false;
  std::memcpy(c.key.data(), key.data(), key.size());
  c.key_size = key.size();
  c.username = std::string(username);
  c.sha1 = m.has_integrity();
  c.sha256 = m.has_integrity_sha256();
  return true;
}

}  // namespace

Result<Credentials, AuthFailure> Authenticator::authenticate(const stun::MessageView& m, std::int64_t now,
                                                             const Endpoint& client) const {
  if (!m.has_integrity() && !m.has_integrity_sha256()) return err(AuthFailure::no_integrity);
  auto username = m.find_text(stun::attr::username);
  auto realm = m.find_text(stun::attr::realm);
  auto nonce = m.find_text(stun::attr::nonce);
  if (!username || !realm || !nonce) return err(AuthFailure::missing_attributes);
  if (nonces_->check(*nonce, now, client) != NonceCheck::valid) return err(AuthFailure::stale_nonce);
  if (username->size() > 512) return err(AuthFailure::bad_username);
  // PASSWORD-ALGORITHM (RFC 8489 §14.12): 0x0001 MD5 (the default), 0x0002 SHA-256.
  bool sha256_key = false;
  if (auto alg = m.find(stun::attr::password_algorithm)) {
    if (alg->size() < 4) return err(AuthFailure::missing_attributes);
    const auto id = load_u16(alg->data());
    if (id == 0x0002) sha256_key = true;
    else if (id != 0x0001) return err(AuthFailure::missing_attributes);
  }

  Credentials c;
  if (const StaticUser* user = users_.find(*username)) {
    if (!sha256_key) {
      if (verifies(m, {user->md5_key.data(), user->md5_key.size()}, *username, c)) return c;
    } else if (user->sha256_key) {  // a 0x key is MD5's: SHA-256 needs the password
      if (verifies(m, {user->sha256_key->data(), user->sha256_key->size()}, *username, c)) return c;
    }
    return err(AuthFailure::bad_integrity);
  }

  auto expiry = rest_expiry(*username);
  if (!expiry) return err(AuthFailure::bad_username);
  if (*expiry < now) return err(AuthFailure::expired_credential);
  for (const auto& secret : secrets_.all()) {
    std::string password = rest_password(secret, *username);
    bool ok;
    if (sha256_key) {
      auto k = stun::long_term_key_sha256(*username, realm_, password);
      ok = verifies(m, {k.data(), k.size()}, *username, c);
      OPENSSL_cleanse(k.data(), k.size());
    } else {
      auto k = stun::long_term_key(*username, realm_, password);
      ok = verifies(m, {k.data(), k.size()}, *username, c);
      OPENSSL_cleanse(k.data(), k.size());
    }
    OPENSSL_cleanse(password.data(), password.size());
    if (ok) return c;
  }
  return err(AuthFailure::bad_integrity);
}

}  // namespace hush::auth
