// RFC 4648 base64 (standard alphabet, padded) and base64url (no padding).
#pragma once

#include <optional>
#include <string>

#include "hush/base/bytes.hpp"

namespace hush::auth {

std::string base64(Bytes data);
std::string base64url(Bytes data);
std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace hush::auth
