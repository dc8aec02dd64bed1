// RFC 8489 §5, §14: a validated, non-owning view over one STUN message.
// parse() checks every length once; accessors then read without copying.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "hush/base/address.hpp"
#include "hush/base/bytes.hpp"
#include "hush/base/result.hpp"
#include "hush/stun/constants.hpp"

namespace hush::stun {

enum class ParseError {
  too_short,
  not_stun,          // top bits or magic cookie wrong
  bad_length,        // header length not a multiple of 4 or beyond the buffer
  bad_attribute,     // an attribute overruns the message
  too_many_attributes,
  bad_fingerprint,   // present but wrong, or not last
};

using TransactionId = std::array<std::byte, kTransactionIdSize>;

struct Attribute {
  std::uint16_t type;
  std::uint16_t offset;  // of the value, from the start of the message
  std::uint16_t length;
};

class MessageView {
 public:
  static constexpr std::size_t kMaxAttributes = 40;

  // `bytes` must hold exactly one message (a datagram, or a frame cut from a stream).
  static Result<MessageView, ParseError> parse(Bytes bytes);

  // True when `bytes` starts like a STUN message (RFC 7983 first-byte range 0-3 and cookie).
  static bool looks_like_stun(Bytes bytes);

  std::uint16_t type() const { return load_u16(bytes_.data()); }
  Method method() const { return static_cast<Method>(method_of(type())); }
  Class message_class() const { return class_of(type()); }
  const std::byte* transaction_id_ptr() const { return bytes_.data() + 8; }
  TransactionId transaction_id() const;
  Bytes raw() const { return bytes_; }

  // Attributes before MESSAGE-INTEGRITY(-SHA256), in order (RFC 8489 §14.5: later ones are ignored).
  std::span<const Attribute> attributes() const { return {attrs_.data(), count_}; }
  std::optional<Bytes> find(std::uint16_t type) const;
  std::optional<std::string_view> find_text(std::uint16_t type) const;
  std::optional<std::uint32_t> find_u32(std::uint16_t type) const;
  bool has(std::uint16_t type) const { return find(type).has_value(); }
  Bytes value(const Attribute& a) const { return bytes_.subspan(a.offset, a.length); }

  // Comprehension-required attributes that `known` rejects, for a 420 response.
  template <class Known>
  std::size_t unknown_required(Known known, std::uint16_t* out, std::size_t max) const {
    std::size_t n = 0;
    for (const auto& a : attributes())
      if (attr::comprehension_required(a.type) && !known(a.type) && n < max) out[n++] = a.type;
    return n;
  }

  bool has_integrity() const { return integrity_ != 0; }
  bool has_integrity_sha256() const { return integrity_sha256_ != 0; }
  bool has_fingerprint() const { return fingerprint_ != 0; }
  // HMAC-SHA1 / HMAC-SHA256 over the message up to the attribute, with the length adjusted.
  bool verify_integrity(Bytes key) const;
  bool verify_integrity_sha256(Bytes key) const;

 private:
  Bytes bytes_;
  std::array<Attribute, kMaxAttributes> attrs_{};
  std::size_t count_ = 0;
  std::uint16_t integrity_ = 0;         // offset of the attribute header, 0 if absent
  std::uint16_t integrity_sha256_ = 0;
  std::uint16_t fingerprint_ = 0;
};

// XOR-MAPPED-ADDRESS style attribute values (RFC 8489 §14.2), and plain ones (§14.1).
std::optional<Endpoint> decode_xor_address(Bytes value, const std::byte* transaction_id);
std::optional<Endpoint> decode_plain_address(Bytes value);
// Writes the value into out (8 or 20 bytes); returns its length.
std::size_t encode_xor_address(const Endpoint& ep, const std::byte* transaction_id, std::byte* out);

struct ErrorCode {
  int code;
  std::string_view reason;
};
std::optional<ErrorCode> decode_error_code(Bytes value);

// ICMP (RFC 8656 §18.13): 16 reserved bits, the ICMP type and code in a byte each, then 32
// bits of error data (the MTU of a "too big" error, else 0). The RFC's figure draws the type
// 7 bits wide and the code 9, but ICMP's own fields are a byte each, and TURN libraries that
// read the attribute (openvocs, Centricular's turn-types) take bytes 2 and 3; so does hush.
// (Wireshark 4.0 reads the type and code from bytes 0 and 1, the reserved ones, and shows 0.)
struct Icmp {
  std::uint8_t type;
  std::uint8_t code;
  std::uint32_t error_data;
};
std::optional<Icmp> decode_icmp(Bytes value);

}  // namespace hush::stun
