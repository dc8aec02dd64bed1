// The worker's relayed sockets over real sockets: what RelayPorts does when the worker cannot
// watch a socket it opened (its epoll set refuses: ENOMEM, or ENOSPC at
// fs.epoll.max_user_watches). The socket must be closed and its port freed, and the open must
// fail at once, so the client gets 508 rather than an allocation that never hears its peers.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <vector>

#include "hush/net/relay_ports.hpp"
#include "hush/net/udp_socket.hpp"

using namespace hush;

namespace {

// Above the ephemeral ports (32768-60999) that other tests' sockets take, which run at the same
// time, and apart from the relay ranges they give (61000-65299).
constexpr std::uint16_t kLow = 65300;
constexpr std::uint16_t kHigh = 65499;

net::RelayPortsConfig loopback_range() {
  net::RelayPortsConfig c;
  c.relay_v4 = *IpAddress::parse("127.0.0.1");
  c.port_min = kLow;
  c.port_max = kHigh;
  return c;
}

bool descriptor_open(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

std::size_t live_ports(const policy::RelayPortRegistry& live) {
  std::size_t n = 0;
  for (unsigned p = kLow; p <= kHigh; ++p) n += live.is_live(Family::v4, static_cast<std::uint16_t>(p));
  return n;
}

struct Watcher {
  bool accept = false;
  std::vector<int> offered;
  std::vector<int> closed;
};

net::RelayPorts make_ports(policy::RelayPortRegistry& live, Watcher& w) {
  return net::RelayPorts(
      loopback_range(), live,
      [&w](int fd) {
        w.offered.push_back(fd);
        return w.accept;
      },
      [&w](int fd) {
        w.closed.push_back(fd);
        ::close(fd);
      });
}

}  // namespace

TEST(RelayPorts, ASocketTheWorkerCannotWatchIsClosedItsPortFreedAndNoOtherPortTried) {
  policy::RelayPortRegistry live;
  Watcher w;
  auto ports = make_ports(live, w);

  EXPECT_FALSE(ports.open(Family::v4, false, false));
  ASSERT_EQ(w.offered.size(), 1u);  // one socket, not one per port of the range
  EXPECT_FALSE(descriptor_open(w.offered[0]));
  EXPECT_EQ(ports.open_count(), 0u);
  EXPECT_EQ(live_ports(live), 0u);

  EXPECT_FALSE(ports.open_pair(Family::v4, false));  // EVEN-PORT with a reservation
  ASSERT_EQ(w.offered.size(), 2u);
  EXPECT_FALSE(descriptor_open(w.offered[1]));
  EXPECT_EQ(ports.open_count(), 0u);
  EXPECT_EQ(live_ports(live), 0u);
  EXPECT_TRUE(w.closed.empty());  // never watched, so never handed back to the worker to close

  // Once the worker can watch again, the same allocator serves.
  w.accept = true;
  auto s = ports.open(Family::v4, false, false);
  ASSERT_TRUE(s);
  EXPECT_TRUE(descriptor_open(static_cast<int>(s->handle)));
  EXPECT_TRUE(live.is_live(Family::v4, s->local.port));
  EXPECT_EQ(ports.open_count(), 1u);
  ports.close(s->handle);
  EXPECT_EQ(w.closed, std::vector<int>{static_cast<int>(s->handle)});
  EXPECT_EQ(live_ports(live), 0u);
}

TEST(RelayPorts, AReservedSocketTheWorkerCannotWatchIsClosedAndItsPortFreed) {
  policy::RelayPortRegistry live;
  Watcher w;
  w.accept = true;
  auto ports = make_ports(live, w);
  auto pair = ports.open_pair(Family::v4, false);
  ASSERT_TRUE(pair);
  const auto& reserved = pair->second;
  EXPECT_EQ(reserved.local.port, pair->first.local.port + 1);
  EXPECT_TRUE(live.is_live(Family::v4, reserved.local.port));
  EXPECT_EQ(w.offered.size(), 1u);  // the reserved socket is not read until adopted

  w.accept = false;
  EXPECT_FALSE(ports.adopt(reserved));
  EXPECT_FALSE(descriptor_open(static_cast<int>(reserved.handle)));
  EXPECT_FALSE(live.is_live(Family::v4, reserved.local.port));
  EXPECT_TRUE(live.is_live(Family::v4, pair->first.local.port));
  EXPECT_EQ(ports.open_count(), 1u);
  ports.close(pair->first.handle);
  EXPECT_EQ(live_ports(live), 0u);
}

// A port held by another socket (EADDRINUSE) is skipped and the next one tried, for relayed UDP
// sockets and RFC 6062 TCP listeners alike; the socket it opens reports ICMP errors.
TEST(RelayPorts, PortsHeldByOthersAreSkipped) {
  policy::RelayPortRegistry live;
  net::RelayPortsConfig c = loopback_range();
  c.port_min = kLow + 100;
  c.port_max = kLow + 109;
  auto ports = net::RelayPorts(c, live, [](int) { return true; }, [](int fd) { ::close(fd); });
  std::vector<int> held;  // every port of the range but the last, UDP and TCP (without SO_REUSEPORT)
  for (std::uint16_t p = c.port_min; p < c.port_max; ++p) {
    auto u = net::open_udp(Endpoint{*c.relay_v4, p}, {});
    ASSERT_TRUE(u) << p;
    const int t = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_storage sa;
    const socklen_t sl = net::to_sockaddr(Endpoint{*c.relay_v4, p}, sa);
    ASSERT_EQ(::bind(t, reinterpret_cast<sockaddr*>(&sa), sl), 0) << p;
    ASSERT_EQ(::listen(t, 4), 0);
    held.insert(held.end(), {*u, t});
  }
  auto s = ports.open(Family::v4, false, false);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->local.port, c.port_max);
  int on = 0;
  socklen_t len = sizeof on;
  ASSERT_EQ(::getsockopt(static_cast<int>(s->handle), IPPROTO_IP, IP_RECVERR, &on, &len), 0);
  EXPECT_EQ(on, 1);
  // Nothing left: a failure, not a scan forever.
  EXPECT_FALSE(ports.open(Family::v4, false, false));
  ports.close(s->handle);  // the one free port is free again (for TCP too: one registry)
  auto l = ports.open_tcp_listener(Family::v4);
  ASSERT_TRUE(l);
  EXPECT_EQ(l->local.port, c.port_max);
  ::close(static_cast<int>(l->handle));
  for (int fd : held) ::close(fd);
}
