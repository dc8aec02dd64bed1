// RFC 8489 §9.2.2, §14.5-14.7: keys, HMACs and the FINGERPRINT CRC.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "hush/base/bytes.hpp"

namespace hush::stun {

std::uint32_t crc32(Bytes data, std::uint32_t crc = 0);

// Incremental HMAC so integrity can be computed over a patched header plus the rest.
class Hmac {
 public:
  enum class Algorithm { sha1, sha256 };
  Hmac(Algorithm a, Bytes key);
  ~Hmac();
  Hmac(const Hmac&) = delete;
  Hmac& operator=(const Hmac&) = delete;
  void update(Bytes data);
  // Writes 20 or 32 bytes.
  std::size_t final(std::byte* out);

 private:
  void* ctx_;
  Algorithm algorithm_;
};

std::array<std::byte, 20> hmac_sha1(Bytes key, Bytes data);

// Long-term credential key with the default (MD5) password algorithm: MD5(user:realm:pass).
std::array<std::byte, 16> long_term_key(std::string_view username, std::string_view realm,
                                        std::string_view password);
// Same with PASSWORD-ALGORITHM SHA-256.
std::array<std::byte, 32> long_term_key_sha256(std::string_view username, std::string_view realm,
                                               std::string_view password);

bool constant_time_equal(Bytes a, Bytes b);

}  // namespace hush::stun
