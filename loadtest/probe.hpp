// The probes of hush-loadgen and hush-streamgen: payloads that carry their send time, sent in
// ChannelData or Send indications and recognised when the relay brings them back.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>

#include "hush/auth/secret_set.hpp"
#include "hush/base/address.hpp"
#include "hush/base/bytes.hpp"
#include "hush/stun/channel_data.hpp"
#include "hush/stun/message.hpp"
#include "measure.hpp"

namespace hush::loadtest {

constexpr std::uint32_t kMagic = 0x4855534Bu;  // "HUSK"
constexpr std::size_t kProbeHeader = 20;       // magic, allocation, sequence, send time

// A Send indication's header, XOR-PEER-ADDRESS and DATA header for a `payload`-byte probe to
// `peer`, with a fresh transaction id; returns its length (the probe follows).
inline std::size_t write_send_indication(std::byte* buf, const Endpoint& peer, std::size_t payload) {
  auth::random_bytes(buf + 8, 12);
  const std::size_t addr_len = 4 + peer.ip.size();
  const std::size_t header = 20 + 4 + addr_len + 4;
  store_u16(buf, stun::message_type(stun::Method::send, stun::Class::indication));
  store_u16(buf + 2, static_cast<std::uint16_t>(header - 20 + ((payload + 3) & ~std::size_t{3})));
  store_u32(buf + 4, stun::kMagicCookie);
  store_u16(buf + 20, stun::attr::xor_peer_address);
  store_u16(buf + 22, static_cast<std::uint16_t>(addr_len));
  stun::encode_xor_address(peer, buf + 8, buf + 24);
  store_u16(buf + 24 + addr_len, stun::attr::data);
  store_u16(buf + 26 + addr_len, static_cast<std::uint16_t>(payload));
  return header;
}

// The probe itself in `len` bytes (padding included): magic, allocation, sequence, send time now.
inline void write_probe(std::byte* p, std::size_t len, std::uint32_t allocation, std::uint64_t seq) {
  std::memset(p, 0xA5, len);
  store_u32(p, kMagic);
  store_u32(p + 4, allocation);
  std::memcpy(p + 8, &seq, 4);
  const std::int64_t t = now_ns();
  std::memcpy(p + 12, &t, 8);
}

// The send time of the probe that `d` (ChannelData or a Data indication) brings back, if it is one.
inline std::optional<std::int64_t> probe_sent_at(Bytes d) {
  Bytes probe;
  if (auto cd = stun::parse_channel_data(d)) {
    probe = cd->payload;
  } else if (auto m = stun::MessageView::parse(d); m && m->method() == stun::Method::data) {
    if (auto data = m->find(stun::attr::data)) probe = *data;
  }
  if (probe.size() < kProbeHeader || load_u32(probe.data()) != kMagic) return std::nullopt;
  std::int64_t sent_at;
  std::memcpy(&sent_at, probe.data() + 12, 8);
  return sent_at;
}

}  // namespace hush::loadtest
