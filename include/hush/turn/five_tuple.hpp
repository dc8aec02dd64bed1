// RFC 8656 §2: an allocation is named by its client's 5-tuple. The server side of the tuple
// (local address, transport) is identified by the worker's listener index.
#pragma once

#include <cstdint>
#include <functional>

#include "hush/base/address.hpp"

namespace hush::turn {

struct FiveTuple {
  std::uint16_t listener = 0;
  Endpoint client;
  friend bool operator==(const FiveTuple&, const FiveTuple&) = default;
};

}  // namespace hush::turn

template <>
struct std::hash<hush::turn::FiveTuple> {
  std::size_t operator()(const hush::turn::FiveTuple& t) const noexcept {
    return std::hash<hush::Endpoint>{}(t.client) ^ (std::size_t{t.listener} * 0x9E3779B97F4A7C15ull);
  }
};
