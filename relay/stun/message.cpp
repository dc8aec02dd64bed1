// RFC 8489 §5 (header), §14 (attribute layout), §14.5-14.7 (integrity and fingerprint order).
#include "hush/stun/message.hpp"

#include <cstring>

#include "hush/stun/integrity.hpp"

namespace hush::stun {

bool MessageView::looks_like_stun(Bytes b) {
  return b.size() >= kHeaderSize && (std::to_integer<unsigned>(b[0]) & 0xC0) == 0 && load_u32(b.data() + 4) == kMagicCookie;
}

Result<MessageView, ParseError> MessageView::parse(Bytes b) {
  if (b.size() < kHeaderSize) return err(ParseError::too_short);
  if ((std::to_integer<unsigned>(b[0]) & 0xC0) != 0 || load_u32(b.data() + 4) != kMagicCookie)
    return err(ParseError::not_stun);
  const std::size_t length = load_u16(b.data() + 2);
  if (length % 4 != 0 || kHeaderSize + length != b.size()) return err(ParseError::bad_length);

  MessageView v;
  v.bytes_ = b;
  std::size_t pos = kHeaderSize;
  bool after_integrity = false;
  while (pos < b.size()) {
    if (b.size() - pos < 4) return err(ParseError::bad_attribute);
    const std::uint16_t type = load_u16(b.data() + pos);
    const std::size_t alen = load_u16(b.data() + pos + 2);
    const std::size_t padded = (alen + 3) & ~std::size_t{3};
    if (b.size() - pos - 4 < padded) return err(ParseError::bad_attribute);
    if (v.fingerprint_ != 0) return err(ParseError::bad_fingerprint);  // FINGERPRINT must be last

    const auto header = static_cast<std::uint16_t>(pos);
    if (type == attr::fingerprint) {
      if (alen != 4) return err(ParseError::bad_fingerprint);
      v.fingerprint_ = header;
    } else if (type == attr::message_integrity && !after_integrity) {
      if (alen != 20) return err(ParseError::bad_attribute);
      v.integrity_ = header;
      after_integrity = true;
    } else if (type == attr::message_integrity_sha256 && v.integrity_sha256_ == 0) {
      // §14.6: 16 to 32 bytes, a multiple of 4.
      if (alen < 16 || alen > 32 || alen % 4 != 0) return err(ParseError::bad_attribute);
      v.integrity_sha256_ = header;
      after_integrity = true;
    } else if (!after_integrity) {
      if (v.count_ == kMaxAttributes) return err(ParseError::too_many_attributes);
      v.attrs_[v.count_++] = Attribute{type, static_cast<std::uint16_t>(pos + 4),
                                       static_cast<std::uint16_t>(alen)};
    }
    pos += 4 + padded;
  }

  if (v.fingerprint_ != 0) {
    // The CRC covers the message up to the FINGERPRINT attribute; the header length already
    // includes it, as the sender wrote it.
    const std::uint32_t expect = crc32(b.first(v.fingerprint_)) ^ kFingerprintXor;
    if (load_u32(b.data() + v.fingerprint_ + 4) != expect) return err(ParseError::bad_fingerprint);
  }
  return v;
}

TransactionId MessageView::transaction_id() const {
  TransactionId id;
  std::memcpy(id.data(), transaction_id_ptr(), id.size());
  return id;
}

std::optional<Bytes> MessageView::find(std::uint16_t type) const {
  for (const auto& a : attributes())
    if (a.type == type) return value(a);
  return std::nullopt;
}

std::optional<std::string_view> MessageView::find_text(std::uint16_t type) const {
  auto v = find(type);
  if (!v) return std::nullopt;
  return as_text(*v);
}

std::optional<std::uint32_t> MessageView::find_u32(std::uint16_t type) const {
  auto v = find(type);
  if (!v || v->size() != 4) return std::nullopt;
  return load_u32(v->data());
}

namespace {

bool verify_hmac(Bytes msg, std::uint16_t at, Hmac::Algorithm alg, Bytes key) {
  const std::size_t mac_len = load_u16(msg.data() + at + 2);
  // §14.5: the length field covers everything up to and including this attribute.
  std::byte header[kHeaderSize];
  std::memcpy(header, msg.data(), kHeaderSize);
  store_u16(header + 2, static_cast<std::uint16_t>(at + 4 + mac_len - kHeaderSize));
  Hmac h(alg, key);
  h.update({header, kHeaderSize});
  h.update(msg.subspan(kHeaderSize, at - kHeaderSize));
  std::byte out[32];
  const std::size_t n = h.final(out);
  if (mac_len > n) return false;
  return constant_time_equal({out, mac_len}, msg.subspan(at + 4, mac_len));
}

}  // namespace

bool MessageView::verify_integrity(Bytes key) const {
  return integrity_ != 0 && verify_hmac(bytes_, integrity_, Hmac::Algorithm::sha1, key);
}

bool MessageView::verify_integrity_sha256(Bytes key) const {
  return integrity_sha256_ != 0 && verify_hmac(bytes_, integrity_sha256_, Hmac::Algorithm::sha256, key);
}

std::optional<Endpoint> decode_xor_address(Bytes value, const std::byte* tid) {
  if (value.size() < 4) return std::nullopt;
  const auto family = std::to_integer<std::uint8_t>(value[1]);
  const auto port = static_cast<std::uint16_t>(load_u16(value.data() + 2) ^ (kMagicCookie >> 16));
  std::uint8_t key[16];
  store_u32(reinterpret_cast<std::byte*>(key), kMagicCookie);
  std::memcpy(key + 4, tid, kTransactionIdSize);
  std::uint8_t raw[16];
  if (family == kFamilyIpv4 && value.size() == 8) {
    for (int i = 0; i < 4; ++i) raw[i] = std::to_integer<std::uint8_t>(value[4 + i]) ^ key[i];
    return Endpoint{IpAddress::v4_bytes(raw), port};
  }
  if (family == kFamilyIpv6 && value.size() == 20) {
    for (int i = 0; i < 16; ++i) raw[i] = std::to_integer<std::uint8_t>(value[4 + i]) ^ key[i];
    return Endpoint{IpAddress::v6_bytes(raw), port};
  }
  return std::nullopt;
}

std::optional<Endpoint> decode_plain_address(Bytes value) {
  if (value.size() < 4) return std::nullopt;
  const auto family = std::to_integer<std::uint8_t>(value[1]);
  const auto port = load_u16(value.data() + 2);
  const auto* raw = reinterpret_cast<const std::uint8_t*>(value.data() + 4);
  if (family == kFamilyIpv4 && value.size() == 8) return Endpoint{IpAddress::v4_bytes(raw), port};
  if (family == kFamilyIpv6 && value.size() == 20) return Endpoint{IpAddress::v6_bytes(raw), port};
  return std::nullopt;
}

std::size_t encode_xor_address(const Endpoint& ep, const std::byte* tid, std::byte* out) {
  std::uint8_t key[16];
  store_u32(reinterpret_cast<std::byte*>(key), kMagicCookie);
  std::memcpy(key + 4, tid, kTransactionIdSize);
  out[0] = std::byte{0};
  out[1] = std::byte{ep.ip.is_v4() ? kFamilyIpv4 : kFamilyIpv6};
  store_u16(out + 2, static_cast<std::uint16_t>(ep.port ^ (kMagicCookie >> 16)));
  for (std::size_t i = 0; i < ep.ip.size(); ++i) out[4 + i] = std::byte{static_cast<std::uint8_t>(ep.ip.data()[i] ^ key[i])};
  return 4 + ep.ip.size();
}

std::optional<ErrorCode> decode_error_code(Bytes value) {
  if (value.size() < 4) return std::nullopt;
  const int cls = std::to_integer<int>(value[2]) & 0x07;
  const int number = std::to_integer<int>(value[3]);
  if (cls < 3 || cls > 6 || number > 99) return std::nullopt;
  return ErrorCode{cls * 100 + number, as_text(value.subspan(4))};
}

std::optional<Icmp> decode_icmp(Bytes value) {
  if (value.size() != 8) return std::nullopt;
  return Icmp{std::to_integer<std::uint8_t>(value[2]), std::to_integer<std::uint8_t>(value[3]),
              load_u32(value.data() + 4)};
}

}  // namespace hush::stun
