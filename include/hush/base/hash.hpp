// Keyed hashing for every table whose keys a client chooses (addresses, ports, 5-tuples).
//
// A client picks its source address and port, and with an IPv6 prefix it has 2^64 addresses
// to pick from. With an unkeyed hash it can compute offline which of them land in the same
// bucket of a table, or in the same slot of the per-prefix rate limiter as someone else's
// prefix, and make lookups slow or the limiter forget a victim. SipHash (Aumasson and
// Bernstein, 2012) is a pseudorandom function of a 128-bit key: without the key, which is
// drawn from the kernel's random source once per process and never leaves it, an outsider
// cannot tell which inputs collide. SipHash-1-3 (one compression round per word, three
// finalization rounds) is the variant hash tables use (Rust's standard library, CPython):
// about 11 ns for the 12 to 24 bytes of an endpoint on this project's 2-core test VM (FNV-1a: 3-10).
#pragma once

#include <cstddef>
#include <cstdint>

namespace hush {

struct HashKey {
  std::uint64_t k0 = 0;
  std::uint64_t k1 = 0;
};

// SipHash-c-d of `n` bytes: the specification's c = 2, d = 4 (its test vectors) and the
// tables' c = 1, d = 3.
std::uint64_t siphash24(const HashKey& key, const void* data, std::size_t n);
std::uint64_t siphash13(const HashKey& key, const void* data, std::size_t n);

// 128 bits from getrandom(2); throws std::runtime_error if the kernel gives none.
HashKey random_hash_key();

// This process's key: drawn once, on first use, and the same for every thread after. A
// fuzzing build (-DHUSH_FUZZ=ON) uses a fixed key instead, so that its crashes reproduce.
const HashKey& process_hash_key();

// SipHash-1-3 under the process key of `seed` (8 bytes, little-endian) followed by the
// `n` bytes at `data`.
std::size_t hash_bytes(const void* data, std::size_t n, std::size_t seed = 0);

}  // namespace hush
