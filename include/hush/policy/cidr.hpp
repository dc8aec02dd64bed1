// Address ranges compared numerically, never as strings.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "hush/base/address.hpp"

namespace hush::policy {

struct Cidr {
  IpAddress network;
  std::uint8_t prefix = 0;

  static std::optional<Cidr> parse(std::string_view text);  // "10.0.0.0/8", "::1", "fc00::/7"
  bool contains(const IpAddress& a) const;
};

}  // namespace hush::policy
