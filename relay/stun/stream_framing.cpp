// RFC 8656 §12.5: frames on TCP and TLS streams.
#include "hush/stun/stream_framing.hpp"

#include "hush/stun/channel_data.hpp"
#include "hush/stun/constants.hpp"

namespace hush::stun {

StreamFrame next_stream_frame(Bytes b, std::size_t max_frame) {
  using S = StreamFrame::Status;
  if (b.size() < kChannelHeaderSize) return {S::incomplete, 0, 0};
  std::size_t message, size;
  if (first_byte_is_stun(b[0])) {
    if (b.size() < kHeaderSize) return {S::incomplete, 0, 0};
    message = size = kHeaderSize + load_u16(b.data() + 2);
  } else if (first_byte_is_channel_data(b[0])) {
    message = kChannelHeaderSize + load_u16(b.data() + 2);
    size = (message + 3) & ~std::size_t{3};
  } else {
    return {S::malformed, 0, 0};
  }
  if (size > max_frame) return {S::too_large, message, size};
  if (b.size() < size) return {S::incomplete, message, size};
  return {S::complete, message, size};
}

}  // namespace hush::stun
