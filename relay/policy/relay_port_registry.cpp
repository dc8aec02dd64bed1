#include "hush/policy/relay_port_registry.hpp"

namespace hush::policy {

void RelayPortRegistry::set_live(Family f, std::uint16_t port, bool live) {
  auto& word = bits_[f == Family::v4 ? 0 : 1][port / 64];
  const std::uint64_t bit = std::uint64_t{1} << (port % 64);
  if (live) word.fetch_or(bit, std::memory_order_relaxed);
  else word.fetch_and(~bit, std::memory_order_relaxed);
}

bool RelayPortRegistry::is_live(Family f, std::uint16_t port) const {
  const auto& word = bits_[f == Family::v4 ? 0 : 1][port / 64];
  return (word.load(std::memory_order_relaxed) >> (port % 64)) & 1u;
}

}  // namespace hush::policy
