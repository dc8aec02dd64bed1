// RFC 8656 §12.4: ChannelData framing. The 4-byte header is channel number and length.
#pragma once

#include <cstdint>
#include <optional>

#include "hush/base/bytes.hpp"

namespace hush::stun {

// RFC 8656 §12 narrowed channel numbers to 0x4000-0x4FFF; RFC 5766 allowed up to 0x7FFE and
// deployed clients (coturn's own turnutils_uclient among them) still pick numbers up there, as
// coturn accepts up to 0x7FFF. hush accepts the RFC 5766 range so those clients work, and
// treats first bytes 0x40-0x7F from a client as ChannelData.
inline constexpr std::uint16_t kChannelMin = 0x4000;
inline constexpr std::uint16_t kChannelMax = 0x7FFF;
inline constexpr std::size_t kChannelHeaderSize = 4;

constexpr bool valid_channel(std::uint16_t n) { return n >= kChannelMin && n <= kChannelMax; }

// RFC 7983 demultiplexing by the first byte (64-79 for RFC 8656 channels, up to 127 for RFC 5766 ones).
constexpr bool first_byte_is_stun(std::byte b) { return std::to_integer<unsigned>(b) <= 3; }
constexpr bool first_byte_is_channel_data(std::byte b) {
  auto v = std::to_integer<unsigned>(b);
  return v >= 64 && v <= 127;
}

struct ChannelDataView {
  std::uint16_t channel;
  Bytes payload;
};

// Over UDP the datagram may carry padding after the payload; anything shorter than the
// Length field says is malformed.
std::optional<ChannelDataView> parse_channel_data(Bytes datagram);

inline void write_channel_header(std::byte* at, std::uint16_t channel, std::uint16_t length) {
  store_u16(at, channel);
  store_u16(at + 2, length);
}

}  // namespace hush::stun
