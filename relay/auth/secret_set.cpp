#include "hush/auth/secret_set.hpp"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <fstream>
#include <stdexcept>

#include "hush/auth/base64.hpp"

namespace hush::auth {

void random_bytes(void* out, std::size_t n) {
  if (RAND_bytes(static_cast<unsigned char*>(out), static_cast<int>(n)) != 1)
    throw std::runtime_error("no randomness from OpenSSL");
}

SecretSet::SecretSet(std::vector<std::string> secrets) : secrets_(std::move(secrets)) {}

SecretSet::~SecretSet() {
  for (auto& s : secrets_) OPENSSL_cleanse(s.data(), s.size());
}

Result<SecretSet, std::string> SecretSet::load_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return err(std::string("cannot read ") + path);
  std::vector<std::string> secrets;
  std::string line;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
    std::size_t start = line.find_first_not_of(" \t");
    if (start == std::string::npos || line[start] == '#') {
      OPENSSL_cleanse(line.data(), line.size());
      continue;
    }
    secrets.push_back(line.substr(start));
    OPENSSL_cleanse(line.data(), line.size());
  }
  if (secrets.empty()) return err(path + " holds no secret");
  return SecretSet(std::move(secrets));
}

SecretSet SecretSet::generate() {
  std::byte raw[32];
  random_bytes(raw, sizeof raw);
  SecretSet s({base64url(raw)});
  OPENSSL_cleanse(raw, sizeof raw);
  return s;
}

}  // namespace hush::auth
