// libFuzzer: TURN over TCP and TLS as a byte stream (RFC 8656 §12.5). The input is the stream;
// it is delivered whole, then split at every offset, then in chunks whose sizes the input's
// own bytes choose, into a buffer handled as net::Connection handles its own (frames taken
// from the front, the rest moved down). Every delivery must yield the same frames and end
// in the same state: splitting never changes what a stream means.
#include <cstring>
#include <vector>

#include "hush/stun/stream_framing.hpp"

using namespace hush;
using S = stun::StreamFrame::Status;

namespace {

constexpr std::size_t kMaxFrame = 65536 + 20;

struct Outcome {
  std::vector<std::vector<std::byte>> frames;
  S end = S::incomplete;
  bool operator==(const Outcome&) const = default;
};

class Assembler {
 public:
  // Appends, then takes every complete frame; false once the stream is broken.
  bool feed(const std::byte* d, std::size_t n, Outcome& out) {
    if (out.end == S::malformed || out.end == S::too_large) return false;
    buf_.insert(buf_.end(), d, d + n);
    std::size_t pos = 0;
    while (true) {
      const auto f = stun::next_stream_frame(Bytes{buf_.data() + pos, buf_.size() - pos}, kMaxFrame);
      out.end = f.status;
      if (f.status != S::complete) {
        if (f.status == S::incomplete && f.size != 0 && (f.size < f.message || f.size > kMaxFrame)) __builtin_trap();
        break;
      }
      if (f.size < f.message || f.size - f.message > 3 || f.size > buf_.size() - pos || f.message < 4) __builtin_trap();
      out.frames.emplace_back(buf_.begin() + static_cast<std::ptrdiff_t>(pos),
                              buf_.begin() + static_cast<std::ptrdiff_t>(pos + f.message));
      pos += f.size;
    }
    buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(pos));
    return out.end == S::complete || out.end == S::incomplete;
  }

 private:
  std::vector<std::byte> buf_;
};

Outcome deliver(const std::byte* d, std::size_t n, const std::vector<std::size_t>& cuts) {
  Outcome out;
  Assembler a;
  std::size_t at = 0;
  for (std::size_t cut : cuts) {
    if (!a.feed(d + at, cut - at, out)) return out;
    at = cut;
  }
  a.feed(d + at, n - at, out);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 4096) return 0;
  const auto* d = reinterpret_cast<const std::byte*>(data);
  const Outcome whole = deliver(d, size, {});
  for (std::size_t k = 0; k <= size; ++k)
    if (!(deliver(d, size, {k}) == whole)) __builtin_trap();
  std::vector<std::size_t> cuts;
  for (std::size_t at = 0, i = 0; i < size; ++i) {
    at += 1 + data[i] % 7;
    if (at >= size) break;
    cuts.push_back(at);
  }
  if (!(deliver(d, size, cuts) == whole)) __builtin_trap();
  return 0;
}
