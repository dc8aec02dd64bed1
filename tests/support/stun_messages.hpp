// Builds STUN requests the way a client would, for tests.
#pragma once

#include <cstring>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "hush/auth/rest_credential.hpp"
#include "hush/stun/builder.hpp"
#include "hush/stun/channel_data.hpp"
#include "hush/stun/integrity.hpp"
#include "hush/stun/message.hpp"

namespace hush::test {

struct LongTermAuth {
  std::string username;
  std::string realm;
  std::string nonce;
  std::string password;
  bool sha256 = false;  // MESSAGE-INTEGRITY-SHA256 instead of MESSAGE-INTEGRITY
  bool sha256_key = false;  // PASSWORD-ALGORITHM SHA-256: the key is SHA-256(username:realm:password)
};

inline stun::TransactionId random_tid() {
  stun::TransactionId t;
  auth::random_bytes(t.data(), t.size());
  return t;
}

inline std::vector<std::byte> build(stun::Method m, stun::Class c, const stun::TransactionId& tid,
                                    const std::function<void(stun::MessageBuilder&)>& attrs,
                                    const LongTermAuth* auth = nullptr, bool fingerprint = false) {
  std::vector<std::byte> buf(65536);
  stun::MessageBuilder b(buf, m, c, tid.data());
  if (attrs) attrs(b);
  if (auth != nullptr) {
    b.add_text(stun::attr::username, auth->username);
    b.add_text(stun::attr::realm, auth->realm);
    b.add_text(stun::attr::nonce, auth->nonce);
    std::vector<std::byte> key;
    if (auth->sha256_key) {
      b.add_u32(stun::attr::password_algorithm, std::uint32_t{0x0002} << 16);
      auto k = stun::long_term_key_sha256(auth->username, auth->realm, auth->password);
      key.assign(k.begin(), k.end());
    } else {
      auto k = stun::long_term_key(auth->username, auth->realm, auth->password);
      key.assign(k.begin(), k.end());
    }
    if (auth->sha256) b.add_integrity_sha256(key);
    else b.add_integrity(key);
  }
  if (fingerprint) b.add_fingerprint();
  auto message = b.finish();
  if (!message) throw std::length_error("test STUN message does not fit in 64 KiB");
  buf.resize(message->size());
  return buf;
}

inline std::function<void(stun::MessageBuilder&)> udp_transport() {
  return [](stun::MessageBuilder& b) { b.add_u32(stun::attr::requested_transport, std::uint32_t{17} << 24); };
}

inline std::vector<std::byte> channel_data(std::uint16_t channel, std::string_view payload) {
  std::vector<std::byte> out(4 + payload.size());
  store_u16(out.data(), channel);
  store_u16(out.data() + 2, static_cast<std::uint16_t>(payload.size()));
  std::memcpy(out.data() + 4, payload.data(), payload.size());
  return out;
}

}  // namespace hush::test
