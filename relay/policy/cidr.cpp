#include "hush/policy/cidr.hpp"

#include <charconv>

namespace hush::policy {

std::optional<Cidr> Cidr::parse(std::string_view text) {
  const auto slash = text.find('/');
  auto ip = IpAddress::parse(text.substr(0, slash));
  if (!ip) return std::nullopt;
  const unsigned max = ip->is_v4() ? 32 : 128;
  unsigned prefix = max;
  if (slash != std::string_view::npos) {
    auto digits = text.substr(slash + 1);
    auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
    if (digits.empty() || ec != std::errc{} || p != digits.data() + digits.size() || prefix > max)
      return std::nullopt;
  }
  Cidr c{*ip, static_cast<std::uint8_t>(prefix)};
  // Clear host bits so that contains() compares networks.
  for (unsigned bit = prefix; bit < max; ++bit) c.network.data()[bit / 8] &= static_cast<std::uint8_t>(~(0x80u >> (bit % 8)));
  return c;
}

bool Cidr::contains(const IpAddress& a) const {
  if (a.family() != network.family()) return false;
  const std::uint8_t* x = a.data();
  const std::uint8_t* n = network.data();
  unsigned full = prefix / 8;
  for (unsigned i = 0; i < full; ++i)
    if (x[i] != n[i]) return false;
  if (unsigned rest = prefix % 8) {
    const auto mask = static_cast<std::uint8_t>(0xFF << (8 - rest));
    if ((x[full] & mask) != (n[full] & mask)) return false;
  }
  return true;
}

}  // namespace hush::policy
