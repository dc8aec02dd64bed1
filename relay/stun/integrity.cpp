// RFC 8489 §9.2.2 (long-term key), §14.5-14.7 (HMAC-SHA1, HMAC-SHA256, CRC-32).
#include "hush/stun/integrity.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <array>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

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

// OpenSSL 3.0 looks an algorithm up by name, under a lock and with allocations, each time a
// context is made for it; that lookup cost more than the hash of a STUN message. So the
// algorithms are fetched once, and each thread keeps the HMAC contexts it has used (keyed
// again for each message) and one digest context.
const EVP_MD* fetched(const char* name) {
  const EVP_MD* md = EVP_MD_fetch(nullptr, name, nullptr);
  if (md == nullptr) throw std::runtime_error(std::string("OpenSSL digest unavailable: ") + name);
  return md;
}
const EVP_MD* md5() {
  static const EVP_MD* md = fetched("MD5");
  return md;
}
const EVP_MD* sha256() {
  static const EVP_MD* md = fetched("SHA256");
  return md;
}

EVP_MAC_CTX* new_hmac(Hmac::Algorithm a) {
  static EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  EVP_MAC_CTX* ctx = mac != nullptr ? EVP_MAC_CTX_new(mac) : nullptr;
  if (ctx == nullptr) throw std::runtime_error("OpenSSL HMAC unavailable");
  char digest_name[8];
  std::strcpy(digest_name, a == Hmac::Algorithm::sha1 ? "SHA1" : "SHA256");
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
                         OSSL_PARAM_construct_end()};
  if (EVP_MAC_CTX_set_params(ctx, params) != 1) {
    EVP_MAC_CTX_free(ctx);
    throw std::runtime_error("OpenSSL HMAC digest unavailable");
  }
  return ctx;
}

// This thread's idle HMAC contexts, per algorithm (Hmac objects may nest). An idle context
// holds the state of the last key it was given until it is keyed again, a few packets later;
// the keys themselves are in the process's memory anyway.
struct HmacPool {
  std::vector<EVP_MAC_CTX*> idle[2];
  ~HmacPool() {
    for (auto& v : idle)
      for (EVP_MAC_CTX* c : v) EVP_MAC_CTX_free(c);
  }
};
thread_local HmacPool hmac_pool;

struct DigestContext {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~DigestContext() { EVP_MD_CTX_free(ctx); }
};
thread_local DigestContext digest_context;

template <std::size_t N>
std::array<std::byte, N> digest(const EVP_MD* md, std::string_view a, std::string_view b,
                                std::string_view c) {
  std::array<std::byte, N> out{};
  EVP_MD_CTX* ctx = digest_context.ctx;
  unsigned len = 0;
  EVP_DigestInit_ex(ctx, md, nullptr);
  EVP_DigestUpdate(ctx, a.data(), a.size());
  EVP_DigestUpdate(ctx, ":", 1);
  EVP_DigestUpdate(ctx, b.data(), b.size());
  EVP_DigestUpdate(ctx, ":", 1);
  EVP_DigestUpdate(ctx, c.data(), c.size());
  EVP_DigestFinal_ex(ctx, reinterpret_cast<unsigned char*>(out.data()), &len);
  return out;
}

}  // namespace

std::uint32_t crc32(Bytes data, std::uint32_t crc) {
  crc = ~crc;
  for (std::byte b : data) crc = kCrcTable[(crc ^ std::to_integer<std::uint32_t>(b)) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

Hmac::Hmac(Algorithm a, Bytes key) : algorithm_(a) {
  auto& idle = hmac_pool.idle[static_cast<int>(a)];
  EVP_MAC_CTX* ctx;
  if (idle.empty()) {
    ctx = new_hmac(a);
  } else {
    ctx = idle.back();
    idle.pop_back();
  }
  ctx_ = ctx;
  // An empty key is a key (RFC 2104 pads it): OpenSSL wants a non-null pointer for it.
  static const unsigned char kNone = 0;
  const auto* k = key.empty() ? &kNone : reinterpret_cast<const unsigned char*>(key.data());
  if (EVP_MAC_init(ctx, k, key.size(), nullptr) != 1) {
    EVP_MAC_CTX_free(ctx);
    throw std::runtime_error("OpenSSL HMAC init failed");
  }
}

Hmac::~Hmac() {
  auto* ctx = static_cast<EVP_MAC_CTX*>(ctx_);
  auto& idle = hmac_pool.idle[static_cast<int>(algorithm_)];
  if (idle.size() < 4) {
    idle.push_back(ctx);
  } else {
    EVP_MAC_CTX_free(ctx);
  }
}

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
  return digest<16>(md5(), u, r, p);
}

std::array<std::byte, 32> long_term_key_sha256(std::string_view u, std::string_view r, std::string_view p) {
  return digest<32>(sha256(), u, r, p);
}

bool constant_time_equal(Bytes a, Bytes b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace hush::stun
