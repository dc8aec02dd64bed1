#include "hush/auth/secret_set.hpp"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <fstream>
#include <iterator>
#include <stdexcept>

#include "hush/auth/base64.hpp"
#include "lines.hpp"

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
  std::ifstream in(path, std::ios::binary);
  if (!in) return err(std::string("cannot read ") + path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto set = parse(text, path);
  OPENSSL_cleanse(text.data(), text.size());
  return set;
}

Result<SecretSet, std::string> SecretSet::parse(std::string_view text, const std::string& name) {
  std::vector<std::string> secrets;
  for_each_line(text, [&](std::string_view line, std::size_t) {
    secrets.emplace_back(line);
    return true;
  });
  if (secrets.empty()) return err(name + " holds no secret");
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
