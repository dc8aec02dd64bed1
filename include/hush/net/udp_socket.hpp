// Plain POSIX UDP sockets and address conversion, for the worker's batched I/O.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <string>

#include "hush/base/address.hpp"
#include "hush/base/result.hpp"

namespace hush::net {

socklen_t to_sockaddr(const Endpoint& ep, sockaddr_storage& out);
Endpoint from_sockaddr(const sockaddr_storage& sa);

struct UdpOptions {
  bool reuse_port = false;
  bool dont_fragment = false;
  int receive_buffer = 0;  // bytes; 0 keeps the system default
  int send_buffer = 0;
  // IP_RECVERR / IPV6_RECVERR: ICMP errors about datagrams sent from the socket wait in its
  // error queue (EPOLLERR until read with MSG_ERRQUEUE). Until then the socket also holds the
  // error, and the next send or receive on it fails once with it (ECONNREFUSED, ...).
  bool report_errors = false;
  // With reuse_port: bind with neither SO_REUSEADDR nor SO_REUSEPORT, then set both. The bind
  // fails while any other socket holds the address, and the sockets this process opens on it
  // afterwards (reuse_port set before their bind) still join. The first worker's listeners
  // bind so, and a second relay process on the same address is refused at start instead of
  // silently taking a share of the clients.
  bool exclusive_bind = false;
};

// Why a socket could not be opened: the errno of the call that failed, and a message naming
// that call ("bind: Address already in use").
struct SocketError {
  int code = 0;
  std::string message;
};

// A non-blocking UDP socket bound to `local` (IPv6 sockets are v6-only). Returns the fd.
Result<int, SocketError> open_udp(const Endpoint& local, const UdpOptions& options);
// RFC 6062: a non-blocking TCP socket bound to `local`, listening when `backlog` > 0, so that a
// relayed address can listen and connect out at once. The listener's bind is exclusive (it
// fails while any socket holds the port); SO_REUSEPORT, set after it, lets the connecting
// sockets (`backlog` 0, SO_REUSEADDR and SO_REUSEPORT before their bind) share its address.
Result<int, SocketError> open_tcp(const Endpoint& local, int backlog);
// A non-blocking listening TCP socket with SO_REUSEADDR and SO_REUSEPORT, the latter set
// before the bind or, `exclusive`, after it (as UdpOptions::exclusive_bind).
Result<int, SocketError> open_tcp_listener(const Endpoint& local, int backlog, bool exclusive);
Endpoint local_endpoint(int fd);

}  // namespace hush::net
