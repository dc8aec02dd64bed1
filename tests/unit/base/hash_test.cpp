// The keyed hash behind every table a client can choose keys for: SipHash checked against
// the specification's vectors and against OpenSSL's implementation (an independent one), and
// the process key drawn at random.
#include <gtest/gtest.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <cstring>
#include <random>
#include <vector>

#include "hush/base/address.hpp"
#include "hush/base/hash.hpp"

using namespace hush;

namespace {

HashKey counting_key() {  // the specification's key: bytes 00 01 02 ... 0f
  std::uint8_t b[16];
  for (int i = 0; i < 16; ++i) b[i] = static_cast<std::uint8_t>(i);
  HashKey k;
  std::memcpy(&k.k0, b, 8);
  std::memcpy(&k.k1, b + 8, 8);
  return k;
}

std::vector<std::uint8_t> counting(std::size_t n) {
  std::vector<std::uint8_t> m(n);
  for (std::size_t i = 0; i < n; ++i) m[i] = static_cast<std::uint8_t>(i);
  return m;
}

// OpenSSL's SipHash (EVP_MAC "SIPHASH", 8-byte output) with the given rounds.
std::uint64_t openssl_siphash(const HashKey& key, const std::vector<std::uint8_t>& m, unsigned c, unsigned d) {
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "SIPHASH", nullptr);
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(mac);
  std::uint8_t k[16];
  std::memcpy(k, &key.k0, 8);
  std::memcpy(k + 8, &key.k1, 8);
  std::size_t size = 8;
  OSSL_PARAM params[] = {OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &size),
                         OSSL_PARAM_construct_uint(OSSL_MAC_PARAM_C_ROUNDS, &c),
                         OSSL_PARAM_construct_uint(OSSL_MAC_PARAM_D_ROUNDS, &d), OSSL_PARAM_construct_end()};
  std::uint8_t out[8] = {};
  std::size_t out_n = 0;
  const bool ok = EVP_MAC_init(ctx, k, sizeof k, params) == 1 && EVP_MAC_update(ctx, m.data(), m.size()) == 1 &&
                  EVP_MAC_final(ctx, out, &out_n, sizeof out) == 1 && out_n == 8;
  EVP_MAC_CTX_free(ctx);
  EVP_MAC_free(mac);
  EXPECT_TRUE(ok) << "OpenSSL's SipHash failed";
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | out[i];  // the tag is the value, little-endian
  return v;
}

}  // namespace

TEST(SipHash, MatchesTheSpecificationsVectors) {
  const HashKey k = counting_key();
  // Messages 00, 00 01, ... under the key 00 .. 0f: the reference implementation's vectors.
  const std::uint64_t first[] = {0x726fdb47dd0e0e31ull, 0x74f839c593dc67fdull, 0x0d6c8009d9a94f5aull,
                                 0x85676696d7fb7e2dull};
  for (std::size_t n = 0; n < 4; ++n) {
    auto m = counting(n);
    EXPECT_EQ(siphash24(k, m.data(), n), first[n]) << n << " bytes";
  }
  auto fifteen = counting(15);  // the paper's worked example (Appendix A)
  EXPECT_EQ(siphash24(k, fifteen.data(), 15), 0xa129ca6149be45e5ull);
}

TEST(SipHash, AgreesWithOpenSslForEveryLengthAndRoundCount) {
  std::mt19937_64 rng(7);
  for (std::size_t n = 0; n <= 70; ++n) {
    HashKey k{rng(), rng()};
    std::vector<std::uint8_t> m(n);
    for (auto& b : m) b = static_cast<std::uint8_t>(rng());
    EXPECT_EQ(siphash24(k, m.data(), n), openssl_siphash(k, m, 2, 4)) << n << " bytes";
    EXPECT_EQ(siphash13(k, m.data(), n), openssl_siphash(k, m, 1, 3)) << n << " bytes";
  }
}

TEST(SipHash, TheTablesHashIsSipHash13OfSeedThenBytesUnderTheProcessKey) {
  const std::uint8_t ip[4] = {192, 0, 2, 1};
  const std::size_t seed = (3478u << 8) | 1;
  std::vector<std::uint8_t> m(8 + sizeof ip);
  for (int i = 0; i < 8; ++i) m[i] = static_cast<std::uint8_t>(seed >> (8 * i));
  std::memcpy(m.data() + 8, ip, sizeof ip);
  EXPECT_EQ(hash_bytes(ip, sizeof ip, seed), siphash13(process_hash_key(), m.data(), m.size()));
  EXPECT_EQ(std::hash<Endpoint>{}(Endpoint{IpAddress::v4_bytes(ip), 3478}), hash_bytes(ip, sizeof ip, seed));
  EXPECT_NE(hash_bytes(ip, sizeof ip, seed), hash_bytes(ip, sizeof ip, seed + 1));
}

TEST(SipHash, EveryKeyIsDrawnAtRandom) {
  const HashKey a = random_hash_key(), b = random_hash_key();
  EXPECT_FALSE(a.k0 == b.k0 && a.k1 == b.k1);
  EXPECT_FALSE(process_hash_key().k0 == 0 && process_hash_key().k1 == 0);
  EXPECT_EQ(&process_hash_key(), &process_hash_key());
}
