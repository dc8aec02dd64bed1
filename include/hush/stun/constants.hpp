// RFC 8489 §5-6, §18 and RFC 8656 §17-18: message types, attribute and error codes.
#pragma once

#include <cstdint>
#include <string_view>

namespace hush::stun {

inline constexpr std::uint32_t kMagicCookie = 0x2112A442;
inline constexpr std::size_t kHeaderSize = 20;
inline constexpr std::size_t kTransactionIdSize = 12;
inline constexpr std::uint32_t kFingerprintXor = 0x5354554E;

enum class Method : std::uint16_t {
  binding = 0x001,
  allocate = 0x003,
  refresh = 0x004,
  send = 0x006,
  data = 0x007,
  create_permission = 0x008,
  channel_bind = 0x009,
  connect = 0x00A,             // RFC 6062 §6.1
  connection_bind = 0x00B,
  connection_attempt = 0x00C,
};

enum class Class : std::uint8_t { request = 0, indication = 1, success = 2, error = 3 };

constexpr std::uint16_t message_type(Method m, Class c) {
  auto method = static_cast<std::uint16_t>(m);
  auto cls = static_cast<std::uint16_t>(c);
  return static_cast<std::uint16_t>(((method & 0x0F80) << 2) | ((method & 0x0070) << 1) |
                                    (method & 0x000F) | ((cls & 0x2) << 7) | ((cls & 0x1) << 4));
}
constexpr std::uint16_t method_of(std::uint16_t type) {
  return static_cast<std::uint16_t>(((type & 0x3E00) >> 2) | ((type & 0x00E0) >> 1) | (type & 0x000F));
}
constexpr Class class_of(std::uint16_t type) {
  return static_cast<Class>(((type & 0x0100) >> 7) | ((type & 0x0010) >> 4));
}

namespace attr {
inline constexpr std::uint16_t mapped_address = 0x0001;
inline constexpr std::uint16_t change_request = 0x0003;  // RFC 5780 (and RFC 3489)
inline constexpr std::uint16_t source_address = 0x0004;  // RFC 3489 only
inline constexpr std::uint16_t changed_address = 0x0005;  // RFC 3489 only
inline constexpr std::uint16_t username = 0x0006;
inline constexpr std::uint16_t message_integrity = 0x0008;
inline constexpr std::uint16_t error_code = 0x0009;
inline constexpr std::uint16_t unknown_attributes = 0x000A;
inline constexpr std::uint16_t channel_number = 0x000C;
inline constexpr std::uint16_t lifetime = 0x000D;
inline constexpr std::uint16_t xor_peer_address = 0x0012;
inline constexpr std::uint16_t data = 0x0013;
inline constexpr std::uint16_t realm = 0x0014;
inline constexpr std::uint16_t nonce = 0x0015;
inline constexpr std::uint16_t xor_relayed_address = 0x0016;
inline constexpr std::uint16_t requested_address_family = 0x0017;
inline constexpr std::uint16_t even_port = 0x0018;
inline constexpr std::uint16_t requested_transport = 0x0019;
inline constexpr std::uint16_t dont_fragment = 0x001A;
inline constexpr std::uint16_t message_integrity_sha256 = 0x001C;
inline constexpr std::uint16_t password_algorithm = 0x001D;
inline constexpr std::uint16_t userhash = 0x001E;
inline constexpr std::uint16_t xor_mapped_address = 0x0020;
inline constexpr std::uint16_t reservation_token = 0x0022;
inline constexpr std::uint16_t priority = 0x0024;
inline constexpr std::uint16_t use_candidate = 0x0025;
inline constexpr std::uint16_t padding = 0x0026;
inline constexpr std::uint16_t response_port = 0x0027;
inline constexpr std::uint16_t connection_id = 0x002A;
inline constexpr std::uint16_t additional_address_family = 0x8000;
inline constexpr std::uint16_t address_error_code = 0x8001;
// The same two as draft-ietf-tram-turnbis numbered them before RFC 8656 ("SSODA"), which
// coturn 4.6 still sends and reads (turnutils_uclient -Z). Accepted in an Allocate, and
// answered in kind.
inline constexpr std::uint16_t additional_address_family_draft = 0x8032;
inline constexpr std::uint16_t address_error_code_draft = 0x8033;
inline constexpr std::uint16_t password_algorithms = 0x8002;
inline constexpr std::uint16_t alternate_domain = 0x8003;
inline constexpr std::uint16_t icmp = 0x8004;
inline constexpr std::uint16_t software = 0x8022;
inline constexpr std::uint16_t alternate_server = 0x8023;
inline constexpr std::uint16_t transaction_transmit_counter = 0x8025;
inline constexpr std::uint16_t cache_timeout = 0x8027;
inline constexpr std::uint16_t fingerprint = 0x8028;
inline constexpr std::uint16_t ice_controlled = 0x8029;
inline constexpr std::uint16_t ice_controlling = 0x802A;
inline constexpr std::uint16_t response_origin = 0x802B;
inline constexpr std::uint16_t other_address = 0x802C;

constexpr bool comprehension_required(std::uint16_t type) { return type < 0x8000; }
}  // namespace attr

namespace error {
inline constexpr int try_alternate = 300;
inline constexpr int bad_request = 400;
inline constexpr int unauthorized = 401;
inline constexpr int forbidden = 403;
inline constexpr int unknown_attribute = 420;
inline constexpr int allocation_mismatch = 437;
inline constexpr int stale_nonce = 438;
inline constexpr int address_family_not_supported = 440;
inline constexpr int wrong_credentials = 441;
inline constexpr int unsupported_transport_protocol = 442;
inline constexpr int peer_address_family_mismatch = 443;
inline constexpr int connection_already_exists = 446;  // RFC 6062 §6.3
inline constexpr int connection_timeout_or_failure = 447;
inline constexpr int allocation_quota_reached = 486;
inline constexpr int server_error = 500;
inline constexpr int insufficient_capacity = 508;

std::string_view reason(int code);
}  // namespace error

inline constexpr std::uint8_t kProtocolUdp = 17;
inline constexpr std::uint8_t kProtocolTcp = 6;
inline constexpr std::uint8_t kFamilyIpv4 = 0x01;
inline constexpr std::uint8_t kFamilyIpv6 = 0x02;

}  // namespace hush::stun
