// RFC 8656 §2: an allocation is named by its client's 5-tuple. The server side of the tuple
// (local address, transport) is identified by the worker's listener index.
#pragma once

#include <cstdint>
#include <functional>

#include "hush/base/address.hpp"

namespace hush::turn {

// Listener indexes name the server side of the tuple and its transport: UDP listeners count
// from 0, DTLS sockets from kDtlsListenerBase, TCP connections' listeners from
// kTcpListenerBase, TLS ones from kTlsListenerBase. A stream connection or a DTLS session is
// named by its listener index and the client's address and port.
inline constexpr std::uint16_t kDtlsListenerBase = 0x2000;
inline constexpr std::uint16_t kTcpListenerBase = 0x4000;
inline constexpr std::uint16_t kTlsListenerBase = 0x6000;
enum class Transport : std::uint8_t { udp, tcp, tls, dtls };
constexpr Transport transport_of(std::uint16_t listener) {
  return listener >= kTlsListenerBase    ? Transport::tls
         : listener >= kTcpListenerBase  ? Transport::tcp
         : listener >= kDtlsListenerBase ? Transport::dtls
                                         : Transport::udp;
}

struct FiveTuple {
  std::uint16_t listener = 0;
  Endpoint client;
  friend bool operator==(const FiveTuple&, const FiveTuple&) = default;
};

}  // namespace hush::turn

template <>
struct std::hash<hush::turn::FiveTuple> {
  std::size_t operator()(const hush::turn::FiveTuple& t) const noexcept {
    return std::hash<hush::Endpoint>{}(t.client) ^ (std::size_t{t.listener} * 0x9E3779B97F4A7C15ull);
  }
};
