// Big-endian reads and writes over raw bytes; callers check bounds first.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace hush {

using Bytes = std::span<const std::byte>;
using MutableBytes = std::span<std::byte>;

inline std::uint16_t load_u16(const std::byte* p) {
  return static_cast<std::uint16_t>((std::to_integer<unsigned>(p[0]) << 8) |
                                    std::to_integer<unsigned>(p[1]));
}
inline std::uint32_t load_u32(const std::byte* p) {
  return (std::uint32_t{load_u16(p)} << 16) | load_u16(p + 2);
}
inline void store_u16(std::byte* p, std::uint16_t v) {
  p[0] = static_cast<std::byte>(v >> 8);
  p[1] = static_cast<std::byte>(v);
}
inline void store_u32(std::byte* p, std::uint32_t v) {
  store_u16(p, static_cast<std::uint16_t>(v >> 16));
  store_u16(p + 2, static_cast<std::uint16_t>(v));
}
inline std::string_view as_text(Bytes b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}
inline Bytes as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

}  // namespace hush
