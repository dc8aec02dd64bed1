#include "hush/base/hash.hpp"

#include <sys/random.h>

#include <bit>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace hush {
namespace {

std::uint64_t load_le(const std::uint8_t* p) {
  std::uint64_t v;
  std::memcpy(&v, p, 8);
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
  return v;
}

// The state of SipHash-C-D: words go in one at a time; finish() takes the last 0-7 bytes and
// the message's total length.
template <int C, int D>
class Sip {
 public:
  explicit Sip(const HashKey& k)
      : v0_(k.k0 ^ 0x736f6d6570736575ull),
        v1_(k.k1 ^ 0x646f72616e646f6dull),
        v2_(k.k0 ^ 0x6c7967656e657261ull),
        v3_(k.k1 ^ 0x7465646279746573ull) {}

  void word(std::uint64_t m) {
    v3_ ^= m;
    for (int i = 0; i < C; ++i) round();
    v0_ ^= m;
  }

  void words(const std::uint8_t* p, std::size_t n) {
    for (; n >= 8; p += 8, n -= 8) word(load_le(p));
  }

  std::uint64_t finish(const std::uint8_t* tail, std::size_t tail_n, std::size_t total) {
    std::uint64_t last = static_cast<std::uint64_t>(total & 0xff) << 56;
    for (std::size_t i = 0; i < tail_n; ++i) last |= static_cast<std::uint64_t>(tail[i]) << (8 * i);
    word(last);
    v2_ ^= 0xff;
    for (int i = 0; i < D; ++i) round();
    return v0_ ^ v1_ ^ v2_ ^ v3_;
  }

 private:
  void round() {
    v0_ += v1_;
    v1_ = std::rotl(v1_, 13);
    v1_ ^= v0_;
    v0_ = std::rotl(v0_, 32);
    v2_ += v3_;
    v3_ = std::rotl(v3_, 16);
    v3_ ^= v2_;
    v0_ += v3_;
    v3_ = std::rotl(v3_, 21);
    v3_ ^= v0_;
    v2_ += v1_;
    v1_ = std::rotl(v1_, 17);
    v1_ ^= v2_;
    v2_ = std::rotl(v2_, 32);
  }

  std::uint64_t v0_, v1_, v2_, v3_;
};

template <int C, int D>
std::uint64_t siphash(const HashKey& key, const void* data, std::size_t n) {
  auto p = static_cast<const std::uint8_t*>(data);
  Sip<C, D> s(key);
  s.words(p, n);
  return s.finish(p + (n & ~std::size_t{7}), n & 7, n);
}

}  // namespace

std::uint64_t siphash24(const HashKey& key, const void* data, std::size_t n) { return siphash<2, 4>(key, data, n); }
std::uint64_t siphash13(const HashKey& key, const void* data, std::size_t n) { return siphash<1, 3>(key, data, n); }

HashKey random_hash_key() {
  std::uint64_t k[2];
  auto out = reinterpret_cast<unsigned char*>(k);
  std::size_t got = 0;
  while (got < sizeof k) {
    const ssize_t n = getrandom(out + got, sizeof k - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw std::runtime_error("getrandom failed: no key for the hash tables");
    got += static_cast<std::size_t>(n);
  }
  return {k[0], k[1]};
}

const HashKey& process_hash_key() {
#ifdef HUSH_FIXED_HASH_KEY
  static const HashKey key{0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull};  // fuzzing builds only
#else
  static const HashKey key = random_hash_key();
#endif
  return key;
}

std::size_t hash_bytes(const void* data, std::size_t n, std::size_t seed) {
  auto p = static_cast<const std::uint8_t*>(data);
  Sip<1, 3> s(process_hash_key());
  s.word(static_cast<std::uint64_t>(seed));
  s.words(p, n);
  return static_cast<std::size_t>(s.finish(p + (n & ~std::size_t{7}), n & 7, n + 8));
}

}  // namespace hush
