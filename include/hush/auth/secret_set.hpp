// The shared secrets of coturn's use-auth-secret scheme: the first mints credentials, all
// verify, so an operator rotates by prepending a new secret and later dropping the old one.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "hush/base/result.hpp"

namespace hush::auth {

class SecretSet {
 public:
  SecretSet() = default;
  explicit SecretSet(std::vector<std::string> secrets);
  SecretSet(const SecretSet&) = default;
  SecretSet& operator=(const SecretSet&) = default;
  SecretSet(SecretSet&&) noexcept = default;
  SecretSet& operator=(SecretSet&&) noexcept = default;
  ~SecretSet();  // wipes the secrets

  // One secret per line; blank lines and lines starting with '#' are skipped.
  static Result<SecretSet, std::string> load_file(const std::string& path);
  // The same from a file's text; `name` is what errors call it.
  static Result<SecretSet, std::string> parse(std::string_view text, const std::string& name);
  // 32 random bytes, base64url: for the safe default run.
  static SecretSet generate();

  bool empty() const { return secrets_.empty(); }
  const std::string& minting() const { return secrets_.front(); }
  const std::vector<std::string>& all() const { return secrets_; }

 private:
  std::vector<std::string> secrets_;
};

void random_bytes(void* out, std::size_t n);

}  // namespace hush::auth
