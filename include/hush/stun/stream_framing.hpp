// RFC 8656 §12.5 (and RFC 6062 control connections): over TCP and TLS, STUN messages and
// ChannelData follow each other with nothing between them; ChannelData is padded to a
// multiple of 4 there. A stream cannot resynchronise after bytes that are neither.
#pragma once

#include <cstddef>

#include "hush/base/bytes.hpp"

namespace hush::stun {

struct StreamFrame {
  enum class Status {
    incomplete,  // more bytes needed; `size` is the frame's full size once its header is in, else 0
    complete,    // the first `size` bytes are a frame; the message is its first `message` bytes
    malformed,   // neither STUN nor ChannelData: the connection must close
    too_large,   // longer than the caller's limit: the connection must close
  };
  Status status = Status::incomplete;
  std::size_t message = 0;
  std::size_t size = 0;
};

// The first frame of `buffered`, at most `max_frame` bytes including padding.
StreamFrame next_stream_frame(Bytes buffered, std::size_t max_frame);

}  // namespace hush::stun
