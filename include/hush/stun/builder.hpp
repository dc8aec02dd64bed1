// RFC 8489 §5, §14: builds one STUN message into a caller-owned buffer.
// Never allocates; running out of space sets a flag that finish() reports.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "hush/base/address.hpp"
#include "hush/base/bytes.hpp"
#include "hush/stun/constants.hpp"

namespace hush::stun {

class MessageBuilder {
 public:
  MessageBuilder(MutableBytes buffer, std::uint16_t type, const std::byte* transaction_id);
  MessageBuilder(MutableBytes buffer, Method m, Class c, const std::byte* transaction_id)
      : MessageBuilder(buffer, message_type(m, c), transaction_id) {}

  MessageBuilder& add(std::uint16_t type, Bytes value);
  MessageBuilder& add_text(std::uint16_t type, std::string_view text) { return add(type, as_bytes(text)); }
  MessageBuilder& add_u32(std::uint16_t type, std::uint32_t value);
  MessageBuilder& add_xor_address(std::uint16_t type, const Endpoint& ep);
  MessageBuilder& add_address(std::uint16_t type, const Endpoint& ep);  // plain, e.g. ALTERNATE-SERVER
  // ICMP (RFC 8656 §18.13, layout in message.hpp).
  MessageBuilder& add_icmp(std::uint8_t type, std::uint8_t code, std::uint32_t error_data);
  MessageBuilder& add_error(int code, std::string_view reason);
  MessageBuilder& add_error(int code);  // with the RFC's reason phrase
  MessageBuilder& add_unknown_attributes(std::span<const std::uint16_t> types);
  MessageBuilder& add_integrity(Bytes key);         // MESSAGE-INTEGRITY, HMAC-SHA1
  MessageBuilder& add_integrity_sha256(Bytes key);  // MESSAGE-INTEGRITY-SHA256
  MessageBuilder& add_fingerprint();

  bool overflow() const { return overflow_; }
  std::size_t size() const { return size_; }
  // The finished message, or nullopt if it did not fit.
  std::optional<Bytes> finish() const;

 private:
  std::byte* reserve(std::uint16_t type, std::size_t length);
  void set_length(std::size_t body);

  MutableBytes buf_;
  std::size_t size_ = 0;
  bool overflow_ = false;
};

}  // namespace hush::stun
