// Static long-term users (RFC 8489 §9.2), as coturn's `user=` lines and `lt-cred-mech`: a
// username with a password that does not expire, for softphones whose account settings take
// a fixed TURN username and password. Off unless --users-file names a file.
//
// The file holds one user per line, either `name:password` or coturn's `name:0xKEY`, where KEY
// is 32 hex digits of MD5(name:realm:password) (what `turnadmin -k` prints), so that no clear
// password need be stored. Blank lines and lines starting with '#' are skipped. The name ends
// at the first ':'. Only keys are kept in memory, never a password, and they are wiped when
// the table is replaced.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "hush/base/result.hpp"

namespace hush::auth {

struct StaticUser {
  std::array<std::byte, 16> md5_key{};  // MD5(name:realm:password), PASSWORD-ALGORITHM MD5
  // SHA-256(name:realm:password), for PASSWORD-ALGORITHM SHA-256: known only when the file
  // gives the password, not for a 0x key.
  std::optional<std::array<std::byte, 32>> sha256_key;
};

class UserTable {
 public:
  UserTable() = default;
  UserTable(const UserTable&) = default;
  UserTable& operator=(const UserTable&) = default;
  UserTable(UserTable&&) noexcept = default;
  UserTable& operator=(UserTable&&) noexcept = default;
  ~UserTable();  // wipes the keys

  // Errors name the file and the line, never its content.
  static Result<UserTable, std::string> parse(std::string_view text, std::string_view realm, const std::string& name);
  static Result<UserTable, std::string> load_file(const std::string& path, std::string_view realm);

  const StaticUser* find(std::string_view username) const;
  std::size_t size() const { return users_.size(); }
  bool empty() const { return users_.empty(); }

 private:
  std::vector<std::pair<std::string, StaticUser>> users_;  // sorted by name
};

}  // namespace hush::auth
