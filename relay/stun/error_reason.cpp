// RFC 8489 §14.8 and RFC 8656 §19: reason phrases, kept short (they count against the
// 3x amplification limit for unauthenticated answers).
#include "hush/stun/constants.hpp"

namespace hush::stun::error {

std::string_view reason(int code) {
  switch (code) {
    case try_alternate: return "Try Alternate";
    case bad_request: return "Bad Request";
    case unauthorized: return "Unauthorized";
    case forbidden: return "Forbidden";
    case unknown_attribute: return "Unknown Attribute";
    case allocation_mismatch: return "Allocation Mismatch";
    case stale_nonce: return "Stale Nonce";
    case address_family_not_supported: return "Address Family not Supported";
    case wrong_credentials: return "Wrong Credentials";
    case unsupported_transport_protocol: return "Unsupported Transport Protocol";
    case peer_address_family_mismatch: return "Peer Address Family Mismatch";
    case connection_already_exists: return "Connection Already Exists";
    case connection_timeout_or_failure: return "Connection Timeout or Failure";
    case allocation_quota_reached: return "Allocation Quota Reached";
    case server_error: return "Server Error";
    case insufficient_capacity: return "Insufficient Capacity";
    default: return "";
  }
}

}  // namespace hush::stun::error
