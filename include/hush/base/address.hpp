// IP addresses and transport endpoints as plain values, shared by every module.
// IPv4 addresses are stored in the first four bytes; the family tells which.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "hush/base/hash.hpp"

namespace hush {

enum class Family : std::uint8_t { v4 = 1, v6 = 2 };

class IpAddress {
 public:
  IpAddress() = default;
  static IpAddress v4(std::uint32_t host_order);
  static IpAddress v4_bytes(const std::uint8_t* four);
  static IpAddress v6_bytes(const std::uint8_t* sixteen);
  static std::optional<IpAddress> parse(std::string_view text);

  Family family() const { return family_; }
  bool is_v4() const { return family_ == Family::v4; }
  bool is_v6() const { return family_ == Family::v6; }
  std::size_t size() const { return is_v4() ? 4 : 16; }
  const std::uint8_t* data() const { return bytes_.data(); }
  std::uint8_t* data() { return bytes_.data(); }
  std::uint32_t v4_host_order() const;
  bool is_unspecified() const;
  std::string to_string() const;

  friend bool operator==(const IpAddress&, const IpAddress&) = default;

 private:
  Family family_ = Family::v4;
  std::array<std::uint8_t, 16> bytes_{};
};

struct Endpoint {
  IpAddress ip;
  std::uint16_t port = 0;

  static std::optional<Endpoint> parse(std::string_view text);  // "1.2.3.4:5" or "[::1]:5"
  std::string to_string() const;
  friend bool operator==(const Endpoint&, const Endpoint&) = default;
};

}  // namespace hush

template <>
struct std::hash<hush::IpAddress> {
  std::size_t operator()(const hush::IpAddress& a) const noexcept {
    return hush::hash_bytes(a.data(), a.size(), static_cast<std::size_t>(a.family()));
  }
};

template <>
struct std::hash<hush::Endpoint> {
  std::size_t operator()(const hush::Endpoint& e) const noexcept {
    return hush::hash_bytes(e.ip.data(), e.ip.size(), (static_cast<std::size_t>(e.port) << 8) |
                                                          static_cast<std::size_t>(e.ip.family()));
  }
};
