// libFuzzer: the STUN parser, attribute decoders, integrity check and a rebuild round trip
// (pion/stun's decode-encode-decode), plus ChannelData framing.
#include <cstring>
#include <vector>

#include "hush/stun/builder.hpp"
#include "hush/stun/channel_data.hpp"
#include "hush/stun/message.hpp"

using namespace hush;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Bytes input(reinterpret_cast<const std::byte*>(data), size);
  (void)stun::parse_channel_data(input);
  auto m = stun::MessageView::parse(input);
  if (!m) return 0;
  const std::byte key[16] = {};
  (void)m->verify_integrity(key);
  (void)m->verify_integrity_sha256(key);
  for (const auto& a : m->attributes()) {
    (void)stun::decode_xor_address(m->value(a), m->transaction_id_ptr());
    (void)stun::decode_plain_address(m->value(a));
    (void)stun::decode_error_code(m->value(a));
  }
  // Rebuild from the parsed attributes: the result must parse to the same attributes.
  std::vector<std::byte> buf(size + 64);
  stun::MessageBuilder b(buf, m->type(), m->transaction_id_ptr());
  for (const auto& a : m->attributes()) b.add(a.type, m->value(a));
  auto rebuilt = b.finish();
  if (!rebuilt) __builtin_trap();
  auto again = stun::MessageView::parse(*rebuilt);
  if (!again || again->attributes().size() != m->attributes().size()) __builtin_trap();
  for (std::size_t i = 0; i < m->attributes().size(); ++i) {
    auto x = m->value(m->attributes()[i]);
    auto y = again->value(again->attributes()[i]);
    if (x.size() != y.size() || (x.size() > 0 && std::memcmp(x.data(), y.data(), x.size()) != 0)) __builtin_trap();
  }
  return 0;
}
