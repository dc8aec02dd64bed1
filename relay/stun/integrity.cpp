// RFC 8489 §9.2.2 (long-term key), §14.5-14.7 (HMAC-SHA1, HMAC-SHA256, CRC-32).
#include "hush/stun/integrity.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <array>
#include <cstring>
#include <stdexcept>

namespace hush::stun {
namespace {

constexpr std::array<std::uint32_t, 256> make_crc_table() {
  std::array<std::uint32_t, 256> t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    t[i] = c;
  }
  return t;
}
constexpr auto kCrcTable = make_crc_table();

EVP_MAC* hmac_algorithm() {
  static EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  return mac;
}

template <std::size_t N>
std::array<std::byte, N> digest(const EVP_MD* md, std::string_view a, std::string_view b,
                                std::string_view c) {
  std::array<std::byte, N> out{};
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  unsigned len = 0;
  EVP_DigestInit_ex(ctx, md, nullptr);
  EVP_DigestUpdate(ctx, a.data(), a.size());
  EVP_DigestUpdate(ctx, ":", 1);
  EVP_DigestUpdate(ctx, b.data(), b.size());
  EVP_DigestUpdate(ctx, ":", 1);
  EVP_DigestUpdate(ctx, c.data(), c.size());
  EVP_DigestFinal_ex(ctx, reinterpret_cast<unsigned char*>(out.data()), &len);
  EVP_MD_CTX_free(ctx);
  return out;
}

}  // namespace

std::uint32_t crc32(Bytes data, std::uint32_t crc) {
  crc = ~crc;
  for (std::byte b : data) crc = kCrcTable[(crc ^ std::to_integer<std::uint32_t>(b)) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

Hmac::Hmac(Algorithm a, Bytes key) {
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(hmac_algorithm());
  if (ctx == nullptr) throw std::runtime_error("OpenSSL HMAC unavailable");
  char digest_name[8];
  std::strcpy(digest_name, a == Algorithm::sha1 ? "SHA1" : "SHA256");
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
                         OSSL_PARAM_construct_end()};
  EVP_MAC_init(ctx, reinterpret_cast<const unsigned char*>(key.data()), key.size(), params);
  ctx_ = ctx;
}

Hmac::~Hmac() { EVP_MAC_CTX_free(static_cast<EVP_MAC_CTX*>(ctx_)); }

void Hmac::update(Bytes data) {
  EVP_MAC_update(static_cast<EVP_MAC_CTX*>(ctx_), reinterpret_cast<const unsigned char*>(data.data()),
                 data.size());
}

std::size_t Hmac::final(std::byte* out) {
  std::size_t n = 0;
  EVP_MAC_final(static_cast<EVP_MAC_CTX*>(ctx_), reinterpret_cast<unsigned char*>(out), &n, 32);
  return n;
}

std::array<std::byte, 20> hmac_sha1(Bytes key, Bytes data) {
  std::array<std::byte, 20> out{};
  Hmac h(Hmac::Algorithm::sha1, key);
  h.update(data);
  h.final(out.data());
  return out;
}

std::array<std::byte, 16> long_term_key(std::string_view u, std::string_view r, std::string_view p) {
  return digest<16>(EVP_md5(), u, r, p);
}

std::array<std::byte, 32> long_term_key_sha256(std::string_view u, std::string_view r, std::string_view p) {
  return digest<32>(EVP_sha256(), u, r, p);
}

bool constant_time_equal(Bytes a, Bytes b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace hush::stun
