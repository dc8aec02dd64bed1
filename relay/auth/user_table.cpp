#include "hush/auth/user_table.hpp"

#include <openssl/crypto.h>

#include <algorithm>
#include <fstream>
#include <iterator>

#include "hush/stun/integrity.hpp"
#include "lines.hpp"

namespace hush::auth {
namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// coturn's key form: "0x" and 32 hex digits.
std::optional<std::array<std::byte, 16>> hex_key(std::string_view v) {
  if (v.size() != 34 || v[0] != '0' || (v[1] != 'x' && v[1] != 'X')) return std::nullopt;
  std::array<std::byte, 16> key{};
  for (std::size_t i = 0; i < 16; ++i) {
    const int hi = hex_digit(v[2 + 2 * i]);
    const int lo = hex_digit(v[3 + 2 * i]);
    if (hi < 0 || lo < 0) return std::nullopt;
    key[i] = static_cast<std::byte>(hi * 16 + lo);
  }
  return key;
}

}  // namespace

UserTable::~UserTable() {
  for (auto& [name, user] : users_) {
    OPENSSL_cleanse(user.md5_key.data(), user.md5_key.size());
    if (user.sha256_key) OPENSSL_cleanse(user.sha256_key->data(), user.sha256_key->size());
  }
}

Result<UserTable, std::string> UserTable::parse(std::string_view text, std::string_view realm,
                                                const std::string& name) {
  UserTable table;
  std::string error;
  for_each_line(text, [&](std::string_view line, std::size_t number) {
    const auto fail = [&](const char* why) {
      error = name + " line " + std::to_string(number) + ": " + why;
      return false;
    };
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) return fail("expected name:password or name:0xKEY");
    const std::string_view user = line.substr(0, colon);
    const std::string_view secret = line.substr(colon + 1);
    if (user.empty()) return fail("the name is empty");
    if (user.size() > 512) return fail("the name is longer than 512 bytes");
    if (secret.empty()) return fail("the password is empty");
    StaticUser entry;
    if (auto key = hex_key(secret)) {
      entry.md5_key = *key;
    } else if (secret.size() >= 2 && secret[0] == '0' && (secret[1] == 'x' || secret[1] == 'X')) {
      // A password that starts with 0x is read as a key, as coturn does: say so rather than
      // take a mistyped key for a password.
      return fail("a value starting with 0x must be a key of 32 hex digits");
    } else {
      entry.md5_key = stun::long_term_key(user, realm, secret);
      entry.sha256_key = stun::long_term_key_sha256(user, realm, secret);
    }
    table.users_.emplace_back(std::string(user), entry);
    OPENSSL_cleanse(entry.md5_key.data(), entry.md5_key.size());
    if (entry.sha256_key) OPENSSL_cleanse(entry.sha256_key->data(), entry.sha256_key->size());
    return true;
  });
  if (!error.empty()) return err(error);
  std::sort(table.users_.begin(), table.users_.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (std::size_t i = 1; i < table.users_.size(); ++i)
    if (table.users_[i].first == table.users_[i - 1].first) return err(name + ": a name appears twice");
  if (table.users_.empty()) return err(name + " holds no user");
  return table;
}

Result<UserTable, std::string> UserTable::load_file(const std::string& path, std::string_view realm) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return err(std::string("cannot read ") + path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto table = parse(text, realm, path);
  OPENSSL_cleanse(text.data(), text.size());
  return table;
}

const StaticUser* UserTable::find(std::string_view username) const {
  auto it = std::lower_bound(users_.begin(), users_.end(), username,
                             [](const auto& entry, std::string_view n) { return entry.first < n; });
  return it != users_.end() && it->first == username ? &it->second : nullptr;
}

}  // namespace hush::auth
