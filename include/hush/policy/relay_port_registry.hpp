// Which relayed ports belong to a live allocation, per address family, across all workers.
// Written on Allocate and expiry and read on CreatePermission/ChannelBind and for peers on
// the relay's own addresses: control paths, so relaxed atomics are fine here.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

#include "hush/base/address.hpp"

namespace hush::policy {

class RelayPortRegistry {
 public:
  void set_live(Family f, std::uint16_t port, bool live);
  bool is_live(Family f, std::uint16_t port) const;

 private:
  std::array<std::array<std::atomic<std::uint64_t>, 65536 / 64>, 2> bits_{};
};

}  // namespace hush::policy
