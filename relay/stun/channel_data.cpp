// RFC 8656 §12.4-12.5: ChannelData messages.
#include "hush/stun/channel_data.hpp"

namespace hush::stun {

std::optional<ChannelDataView> parse_channel_data(Bytes d) {
  if (d.size() < kChannelHeaderSize) return std::nullopt;
  const std::uint16_t channel = load_u16(d.data());
  const std::size_t length = load_u16(d.data() + 2);
  if (!valid_channel(channel) || length > d.size() - kChannelHeaderSize) return std::nullopt;
  return ChannelDataView{channel, d.subspan(kChannelHeaderSize, length)};
}

}  // namespace hush::stun
