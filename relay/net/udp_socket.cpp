#include "hush/net/udp_socket.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace hush::net {

socklen_t to_sockaddr(const Endpoint& ep, sockaddr_storage& out) {
  std::memset(&out, 0, sizeof out);
  if (ep.ip.is_v4()) {
    auto* s = reinterpret_cast<sockaddr_in*>(&out);
    s->sin_family = AF_INET;
    s->sin_port = htons(ep.port);
    std::memcpy(&s->sin_addr, ep.ip.data(), 4);
    return sizeof(sockaddr_in);
  }
  auto* s = reinterpret_cast<sockaddr_in6*>(&out);
  s->sin6_family = AF_INET6;
  s->sin6_port = htons(ep.port);
  std::memcpy(&s->sin6_addr, ep.ip.data(), 16);
  return sizeof(sockaddr_in6);
}

Endpoint from_sockaddr(const sockaddr_storage& sa) {
  if (sa.ss_family == AF_INET) {
    const auto* s = reinterpret_cast<const sockaddr_in*>(&sa);
    return Endpoint{IpAddress::v4_bytes(reinterpret_cast<const std::uint8_t*>(&s->sin_addr)), ntohs(s->sin_port)};
  }
  const auto* s = reinterpret_cast<const sockaddr_in6*>(&sa);
  return Endpoint{IpAddress::v6_bytes(reinterpret_cast<const std::uint8_t*>(&s->sin6_addr)), ntohs(s->sin6_port)};
}

namespace {

Result<int, SocketError> failed(const char* call) {
  const int e = errno;
  return err(SocketError{e, std::string(call) + ": " + std::strerror(e)});
}

Result<int, SocketError> open_bound(const Endpoint& local, int type, const UdpOptions& o, bool reuse_address = false) {
  const int family = local.ip.is_v4() ? AF_INET : AF_INET6;
  int fd = ::socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return failed("socket");
  const int one = 1;
  if (family == AF_INET6) ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  const bool reuse_now = o.reuse_port && !o.exclusive_bind;
  if (reuse_now || reuse_address) ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (reuse_now) ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  if (o.dont_fragment) {
    if (family == AF_INET) {
      const int v = IP_PMTUDISC_DO;
      ::setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &v, sizeof v);
    } else {
      ::setsockopt(fd, IPPROTO_IPV6, IPV6_DONTFRAG, &one, sizeof one);
    }
  }
  if (o.report_errors) {
    if (family == AF_INET) ::setsockopt(fd, IPPROTO_IP, IP_RECVERR, &one, sizeof one);
    else ::setsockopt(fd, IPPROTO_IPV6, IPV6_RECVERR, &one, sizeof one);
  }
  if (o.receive_buffer > 0) ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &o.receive_buffer, sizeof o.receive_buffer);
  if (o.send_buffer > 0) ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &o.send_buffer, sizeof o.send_buffer);
  sockaddr_storage sa;
  const socklen_t len = to_sockaddr(local, sa);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), len) != 0) {
    auto e = failed("bind");
    ::close(fd);
    return e;
  }
  if (o.reuse_port && o.exclusive_bind &&
      (::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
       ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)) {
    auto e = failed("setsockopt");
    ::close(fd);
    return e;
  }
  return fd;
}

}  // namespace

Result<int, SocketError> open_udp(const Endpoint& local, const UdpOptions& o) {
  return open_bound(local, SOCK_DGRAM, o);
}

Result<int, SocketError> open_tcp_listener(const Endpoint& local, int backlog, bool exclusive) {
  // SO_REUSEADDR passes over connections of earlier listeners in TIME_WAIT only.
  auto fd = open_bound(local, SOCK_STREAM, UdpOptions{!exclusive, false, 0, 0}, true);
  if (!fd) return fd;
  const int one = 1;
  if ((exclusive && ::setsockopt(*fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) ||
      ::listen(*fd, backlog) != 0) {
    auto e = failed("listen");
    ::close(*fd);
    return e;
  }
  return fd;
}

Result<int, SocketError> open_tcp(const Endpoint& local, int backlog) {
  if (backlog <= 0) return open_bound(local, SOCK_STREAM, UdpOptions{true, false, 0, 0});
  // The listener binds without SO_REUSEPORT, so the bind fails while another socket listens
  // on the port or holds it with SO_REUSEPORT. Linux lets sockets of one user that all set
  // SO_REUSEPORT before binding share a port and splits incoming connections among their
  // listeners: another relay process of the same user (a second instance, a restart that
  // overlaps the old one) that picked the same port would receive connections meant for this
  // allocation. Set after the bind, the option lets this allocation's own connections to
  // peers (RFC 6062 §5.2, opened with it) bind the relayed address, and the listener stays
  // the only one.
  return open_tcp_listener(local, backlog, true);
}

Endpoint local_endpoint(int fd) {
  sockaddr_storage sa{};
  socklen_t len = sizeof sa;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  return from_sockaddr(sa);
}

}  // namespace hush::net
