// How the TURN core gets relayed sockets without touching sockets itself (pion's
// RelayAddressGenerator, libwebrtc's socket factory). The worker implements it with real UDP
// sockets; tests with a fake.
#pragma once

#include <cstdint>
#include <optional>
#include <utility>

#include "hush/base/address.hpp"

namespace hush::turn {

struct RelaySocket {
  // The worker's name for the socket (its descriptor), used to send and receive. The core
  // indexes a table by it, so handles are small integers, like descriptors, unique among a
  // worker's relayed UDP sockets and RFC 6062 listeners.
  std::uint32_t handle = 0;
  Endpoint local;  // the bound address (before --external-ip substitution)
};

class RelayPortAllocator {
 public:
  virtual ~RelayPortAllocator() = default;
  // A socket on a free port of the relay range; an even port when `even`. nullopt when the
  // family is not relayed or no port is free.
  virtual std::optional<RelaySocket> open(Family family, bool even, bool dont_fragment) = 0;
  // An even port and the next one, both bound (EVEN-PORT with the R bit, RFC 8656 §7.2).
  // The second is reserved: bound, but not read until some worker adopt()s it.
  virtual std::optional<std::pair<RelaySocket, RelaySocket>> open_pair(Family family, bool dont_fragment) = 0;
  // Starts using a reserved socket, possibly opened by another worker. false: it cannot be
  // used here, and the allocator has closed it and freed its port.
  virtual bool adopt(const RelaySocket& reserved) = 0;
  // Closes a socket this allocator opened or adopted.
  virtual void close(std::uint32_t handle) = 0;
  // Closes a reserved socket that nobody adopted.
  virtual void discard(const RelaySocket& reserved) = 0;
};

}  // namespace hush::turn
