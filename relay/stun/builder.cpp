#include "hush/stun/builder.hpp"

#include <cstring>

#include "hush/stun/integrity.hpp"
#include "hush/stun/message.hpp"

namespace hush::stun {

MessageBuilder::MessageBuilder(MutableBytes buffer, std::uint16_t type, const std::byte* tid)
    : buf_(buffer) {
  if (buf_.size() < kHeaderSize) {
    overflow_ = true;
    return;
  }
  store_u16(buf_.data(), type);
  store_u16(buf_.data() + 2, 0);
  store_u32(buf_.data() + 4, kMagicCookie);
  std::memcpy(buf_.data() + 8, tid, kTransactionIdSize);
  size_ = kHeaderSize;
}

std::byte* MessageBuilder::reserve(std::uint16_t type, std::size_t length) {
  const std::size_t padded = (length + 3) & ~std::size_t{3};
  if (overflow_ || length > 0xFFFF || buf_.size() - size_ < 4 + padded ||
      size_ + 4 + padded - kHeaderSize > 0xFFFF) {
    overflow_ = true;
    return nullptr;
  }
  std::byte* p = buf_.data() + size_;
  store_u16(p, type);
  store_u16(p + 2, static_cast<std::uint16_t>(length));
  std::memset(p + 4 + length, 0, padded - length);  // RFC 8489 §14: padding bytes are zero on send
  size_ += 4 + padded;
  set_length(size_ - kHeaderSize);
  return p + 4;
}

void MessageBuilder::set_length(std::size_t body) { store_u16(buf_.data() + 2, static_cast<std::uint16_t>(body)); }

MessageBuilder& MessageBuilder::add(std::uint16_t type, Bytes value) {
  if (std::byte* p = reserve(type, value.size()); p && !value.empty()) std::memcpy(p, value.data(), value.size());
  return *this;
}

MessageBuilder& MessageBuilder::add_u32(std::uint16_t type, std::uint32_t value) {
  if (std::byte* p = reserve(type, 4)) store_u32(p, value);
  return *this;
}

MessageBuilder& MessageBuilder::add_icmp(std::uint8_t type, std::uint8_t code, std::uint32_t error_data) {
  if (std::byte* p = reserve(attr::icmp, 8)) {
    store_u16(p, 0);
    p[2] = std::byte{type};
    p[3] = std::byte{code};
    store_u32(p + 4, error_data);
  }
  return *this;
}

MessageBuilder& MessageBuilder::add_xor_address(std::uint16_t type, const Endpoint& ep) {
  if (std::byte* p = reserve(type, 4 + ep.ip.size())) encode_xor_address(ep, buf_.data() + 8, p);
  return *this;
}

MessageBuilder& MessageBuilder::add_address(std::uint16_t type, const Endpoint& ep) {
  if (std::byte* p = reserve(type, 4 + ep.ip.size())) {
    p[0] = std::byte{0};
    p[1] = std::byte{ep.ip.is_v4() ? kFamilyIpv4 : kFamilyIpv6};
    store_u16(p + 2, ep.port);
    std::memcpy(p + 4, ep.ip.data(), ep.ip.size());
  }
  return *this;
}

MessageBuilder& MessageBuilder::add_error(int code, std::string_view reason) {
  if (std::byte* p = reserve(attr::error_code, 4 + reason.size())) {
    p[0] = p[1] = std::byte{0};
    p[2] = std::byte{static_cast<std::uint8_t>(code / 100)};
    p[3] = std::byte{static_cast<std::uint8_t>(code % 100)};
    if (!reason.empty()) std::memcpy(p + 4, reason.data(), reason.size());
  }
  return *this;
}

MessageBuilder& MessageBuilder::add_error(int code) { return add_error(code, error::reason(code)); }

MessageBuilder& MessageBuilder::add_unknown_attributes(std::span<const std::uint16_t> types) {
  if (std::byte* p = reserve(attr::unknown_attributes, types.size() * 2))
    for (std::size_t i = 0; i < types.size(); ++i) store_u16(p + 2 * i, types[i]);
  return *this;
}

MessageBuilder& MessageBuilder::add_integrity(Bytes key) {
  if (std::byte* p = reserve(attr::message_integrity, 20)) {
    // The length field already counts this attribute, as §14.5 requires.
    Hmac h(Hmac::Algorithm::sha1, key);
    h.update({buf_.data(), static_cast<std::size_t>(p - 4 - buf_.data())});
    h.final(p);
  }
  return *this;
}

MessageBuilder& MessageBuilder::add_integrity_sha256(Bytes key) {
  if (std::byte* p = reserve(attr::message_integrity_sha256, 32)) {
    Hmac h(Hmac::Algorithm::sha256, key);
    h.update({buf_.data(), static_cast<std::size_t>(p - 4 - buf_.data())});
    h.final(p);
  }
  return *this;
}

MessageBuilder& MessageBuilder::add_fingerprint() {
  if (std::byte* p = reserve(attr::fingerprint, 4))
    store_u32(p, crc32({buf_.data(), static_cast<std::size_t>(p - 4 - buf_.data())}) ^ kFingerprintXor);
  return *this;
}

std::optional<Bytes> MessageBuilder::finish() const {
  if (overflow_) return std::nullopt;
  return Bytes{buf_.data(), size_};
}

}  // namespace hush::stun
