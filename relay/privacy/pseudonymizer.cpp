#include "hush/privacy/pseudonymizer.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <stdexcept>

namespace hush::privacy {

Pseudonymizer::Pseudonymizer(std::chrono::seconds period) : period_(period) {}

Pseudonymizer::~Pseudonymizer() { OPENSSL_cleanse(key_.data(), key_.size()); }

std::string Pseudonymizer::pseudonym(char kind, const void* data, std::size_t size, Clock::time_point now) {
  unsigned char mac[32];
  {
    std::lock_guard lock(mutex_);
    if (rotate_at_ == Clock::time_point{} || now >= rotate_at_) {
      if (RAND_bytes(key_.data(), static_cast<int>(key_.size())) != 1) throw std::runtime_error("RAND_bytes failed");
      rotate_at_ = now + period_;
    }
    std::string input(1, kind);  // an address and a username never share a pseudonym
    input.append(static_cast<const char*>(data), size);
    unsigned int n = 0;
    HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()),
         reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &n);
  }
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
  std::uint64_t bits = 0;
  for (int i = 0; i < 8; ++i) bits = (bits << 8) | mac[i];
  std::string out{kind, '-'};
  for (int i = 0; i < 12; ++i) out += kAlphabet[(bits >> (59 - 5 * i)) & 31];
  return out;
}

std::string Pseudonymizer::source(const IpAddress& address, Clock::time_point now) {
  return pseudonym('s', address.data(), address.size(), now);
}

std::string Pseudonymizer::user(std::string_view username, Clock::time_point now) {
  return pseudonym('u', username.data(), username.size(), now);
}

}  // namespace hush::privacy
