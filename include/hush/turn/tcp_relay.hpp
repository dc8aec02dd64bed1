// RFC 6062: what the TURN core asks of the network layer for TCP allocations, without
// touching sockets itself (like RelayPortAllocator for UDP). The worker implements it with
// real TCP sockets and a registry shared by all workers; tests may use a fake.
//
// A peer connection is named by its CONNECTION-ID, unique across the process. It is opened by
// connect() (the client's Connect) or accepted on the relayed address (the core hears of it
// through Server::on_tcp_peer), waits up to kTcpBindTimeout for a ConnectionBind on a new
// client connection (possibly accepted by another worker), and is then spliced to it: raw
// bytes both ways, never parsed.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

#include "hush/turn/five_tuple.hpp"
#include "hush/turn/port_allocator.hpp"

namespace hush::turn {

// RFC 6062 §5.3 and §5.4: a peer connection nobody binds within 30 s is closed.
inline constexpr std::chrono::seconds kTcpBindTimeout{30};
// Peer connections one TCP allocation may hold at once (beyond: 508, or refused inbound).
inline constexpr std::size_t kMaxTcpConnections = 64;

class TcpRelayHost {
 public:
  virtual ~TcpRelayHost() = default;
  // A listening socket on a free port of the relay range (the relayed transport address) for
  // an allocation of `username`; nullopt when the family is not relayed or no port is free.
  virtual std::optional<RelaySocket> listen(Family family, std::string_view username) = 0;
  // Closes the listener and, through close_connection(), nothing else: the core closes the
  // allocation's connections itself.
  virtual void close_listener(std::uint32_t handle) = 0;
  // Starts a connection from the relayed address `handle` to `peer`, owned by an allocation of
  // `username`; returns its CONNECTION-ID. The outcome arrives later through
  // Server::on_tcp_connected on this worker. nullopt if no socket could be made.
  virtual std::optional<std::uint32_t> connect(std::uint32_t handle, const Endpoint& peer,
                                               std::string_view username) = 0;
  // A ConnectionBind from `data` for `id`, authenticated as `username`: true when the peer
  // connection was waiting for exactly this and is now spliced to the client connection.
  virtual bool bind(const FiveTuple& data, std::uint32_t id, std::string_view username) = 0;
  // Closes the peer connection and the client data connection bound to it, if any.
  virtual void close_connection(std::uint32_t id) = 0;
  // Whether the connection is still open (connecting, waiting for a bind, or spliced).
  virtual bool alive(std::uint32_t id) const = 0;
};

}  // namespace hush::turn
