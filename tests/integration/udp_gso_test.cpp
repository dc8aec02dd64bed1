// --udp-gso: bursts to one client or one peer leave the relay as UDP GSO sends (the metrics
// say how many), and what arrives is the same datagrams as without GSO: each one whole, the
// right size, in order, sizes mixed. With --udp-gso off nothing is segmented.
#include <gtest/gtest.h>

#include <sys/socket.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "hush/auth/rest_credential.hpp"
#include "hush/base/bytes.hpp"
#include "hush/net/udp_socket.hpp"
#include "relay_process.hpp"

using namespace hush;
using namespace hush::test;

namespace {

// Sizes of a burst: runs of equal sizes (joinable) broken by other sizes (never joined).
std::vector<std::size_t> burst_sizes() {
  std::vector<std::size_t> sizes;
  for (int i = 0; i < 40; ++i) sizes.push_back(i % 13 == 12 ? 200 : 300);
  for (int i = 0; i < 10; ++i) sizes.push_back(1400);
  sizes.push_back(1401);  // above the largest segment joined
  sizes.push_back(1401);
  sizes.push_back(7);
  return sizes;
}

std::string payload(std::size_t round, std::size_t index, std::size_t size) {
  char head[32];
  const int n = std::snprintf(head, sizeof head, "r%zu i%zu ", round, index);
  std::string p(size, static_cast<char>('a' + index % 26));
  p.replace(0, std::min(size, static_cast<std::size_t>(n)), head, std::min(size, static_cast<std::size_t>(n)));
  return p;
}

// The whole burst in one sendmmsg, so the relay's socket holds it at once.
void send_burst(int fd, const Endpoint& to, const std::vector<std::vector<std::byte>>& datagrams) {
  std::vector<mmsghdr> h(datagrams.size());
  std::vector<iovec> iov(datagrams.size());
  sockaddr_storage sa;
  const socklen_t len = net::to_sockaddr(to, sa);
  for (std::size_t i = 0; i < datagrams.size(); ++i) {
    iov[i] = iovec{const_cast<std::byte*>(datagrams[i].data()), datagrams[i].size()};
    h[i] = mmsghdr{};
    h[i].msg_hdr.msg_name = &sa;
    h[i].msg_hdr.msg_namelen = len;
    h[i].msg_hdr.msg_iov = &iov[i];
    h[i].msg_hdr.msg_iovlen = 1;
  }
  std::size_t sent = 0;
  while (sent < h.size()) {
    const int r = ::sendmmsg(fd, h.data() + sent, static_cast<unsigned>(h.size() - sent), 0);
    ASSERT_GT(r, 0);
    sent += static_cast<std::size_t>(r);
  }
}

struct GsoCall {
  std::uint16_t mport = free_tcp_port();
  Relay relay;
  UdpSocket peer;
  TurnClient client;
  explicit GsoCall(const std::string& gso)
      : relay({"--metrics", "127.0.0.1:" + std::to_string(mport), "--udp-gso", gso, "--kernel-fastpath", "off"}),
        client(relay.endpoint(), relay.credential_username(),
               auth::rest_password(relay.secret, relay.credential_username())) {}
  // An allocation with channel 0x4001 to the peer.
  void open_channel() {
    ASSERT_TRUE(client.allocate());
    ASSERT_TRUE(client.bind_channel(0x4001, peer.local()));
  }
  double gso_sends() const { return metric(mport, "hush_udp_gso_sends_total"); }
  double gso_datagrams() const { return metric(mport, "hush_udp_gso_datagrams_total"); }

  // Bursts both ways until the relay has made a GSO send in each direction's batches (or
  // `rounds` bursts), checking every datagram on arrival.
  void exchange(int rounds) {
    const auto sizes = burst_sizes();
    for (int round = 0; round < rounds; ++round) {
      // Peer to client: ChannelData of exactly 4 + size bytes, in order.
      std::vector<std::vector<std::byte>> to_client;
      for (std::size_t i = 0; i < sizes.size(); ++i) {
        const std::string p = payload(static_cast<std::size_t>(round), i, sizes[i]);
        to_client.emplace_back(as_bytes(p).begin(), as_bytes(p).end());
      }
      send_burst(peer.fd(), client.relayed(), to_client);
      for (std::size_t i = 0; i < sizes.size(); ++i) {
        auto d = client.socket().receive(std::chrono::seconds(2));
        ASSERT_TRUE(d) << "round " << round << " datagram " << i << " to the client";
        ASSERT_EQ(d->size(), 4 + sizes[i]) << "round " << round << " datagram " << i;
        EXPECT_EQ(as_text(*d).substr(4), payload(static_cast<std::size_t>(round), i, sizes[i]))
            << "round " << round << " datagram " << i;
      }
      // Client to peer: the payloads alone, exactly, in order.
      std::vector<std::vector<std::byte>> to_peer;
      for (std::size_t i = 0; i < sizes.size(); ++i)
        to_peer.push_back(channel_data(0x4001, payload(static_cast<std::size_t>(round) + 1000, i, sizes[i])));
      send_burst(client.socket().fd(), relay.endpoint(), to_peer);
      for (std::size_t i = 0; i < sizes.size(); ++i) {
        Endpoint from;
        auto d = peer.receive(std::chrono::seconds(2), &from);
        ASSERT_TRUE(d) << "round " << round << " datagram " << i << " to the peer";
        EXPECT_EQ(from, client.relayed());
        EXPECT_EQ(as_text(*d), payload(static_cast<std::size_t>(round) + 1000, i, sizes[i]))
            << "round " << round << " datagram " << i;
      }
    }
  }
};

}  // namespace

TEST(UdpGso, BurstsLeaveSegmentedAndArriveAsTheSameDatagramsInOrder) {
  GsoCall call("on");
  ASSERT_NO_FATAL_FAILURE(call.open_channel());
  call.exchange(10);
  // Some of the bursts were read in batches: those left as GSO sends of several datagrams.
  EXPECT_GT(call.gso_sends(), 0);
  EXPECT_GE(call.gso_datagrams(), 2 * call.gso_sends());
  EXPECT_EQ(metric(call.mport, R"(hush_relayed_packets_total{direction="to_client"})"), 10 * burst_sizes().size());
}

TEST(UdpGso, OffSendsEveryDatagramOnItsOwn) {
  GsoCall call("off");
  ASSERT_NO_FATAL_FAILURE(call.open_channel());
  call.exchange(3);
  EXPECT_EQ(call.gso_sends(), 0);
  EXPECT_EQ(call.gso_datagrams(), 0);
}
