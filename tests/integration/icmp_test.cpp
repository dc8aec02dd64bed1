// RFC 8656 §11.5 over real sockets: the ICMP errors the kernel gets back for datagrams the
// relay sent to peers reach the client as Data indications with an ICMP attribute, and a
// dead peer costs a live one on the same allocation nothing.
#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <string>

#include "hush/auth/rest_credential.hpp"
#include "relay_process.hpp"
#include "tcp_turn.hpp"

using namespace hush;
using namespace hush::test;
using namespace std::chrono_literals;

namespace {

// A port on `ip` that nothing listens on: bound, then closed. A datagram to it gets an ICMP
// port unreachable from the kernel (not rate-limited on loopback).
Endpoint closed_port(const std::string& ip) {
  UdpSocket s(ip);
  return s.local();
}

struct IcmpIndication {
  Endpoint peer;
  stun::Icmp icmp;
  bool has_data;
};

// The next Data indication with an ICMP attribute the client gets within `timeout`; other
// datagrams are skipped.
std::optional<IcmpIndication> await_icmp(TurnClient& c, std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    auto d = c.socket().receive(50ms);
    if (!d) continue;
    auto m = stun::MessageView::parse(*d);
    if (!m || m->method() != stun::Method::data || m->message_class() != stun::Class::indication) continue;
    auto icmp = m->find(stun::attr::icmp);
    auto peer = m->find(stun::attr::xor_peer_address);
    if (!icmp || !peer) continue;
    auto i = stun::decode_icmp(*icmp);
    auto p = stun::decode_xor_address(*peer, m->transaction_id_ptr());
    if (!i || !p) continue;
    return IcmpIndication{*p, *i, m->find(stun::attr::data).has_value()};
  }
  return std::nullopt;
}

}  // namespace

TEST(Icmp, PortUnreachableReachesTheClientAfterSendIndicationsAndChannelData) {
  const auto mport = free_tcp_port();
  Relay relay({"--metrics", "127.0.0.1:" + std::to_string(mport)});
  auto user = relay.credential_username();
  TurnClient client(relay.endpoint(), user, auth::rest_password(relay.secret, user));
  ASSERT_TRUE(client.allocate());
  const Endpoint dead = closed_port("127.0.0.1");
  ASSERT_TRUE(client.create_permission(dead));

  client.send_indication(dead, "anyone there?");
  auto got = await_icmp(client, 2s);
  ASSERT_TRUE(got) << "no ICMP Data indication after a Send indication to a closed port";
  EXPECT_EQ(got->peer, dead);  // the datagram's destination, port included
  EXPECT_EQ(got->icmp.type, 3);  // destination unreachable
  EXPECT_EQ(got->icmp.code, 3);  // port unreachable
  EXPECT_EQ(got->icmp.error_data, 0u);
  EXPECT_FALSE(got->has_data);

  // ICMP cannot ride in ChannelData: after a channel, still a Data indication.
  ASSERT_TRUE(client.bind_channel(0x4001, dead));
  client.send_channel(0x4001, "hello?");
  got = await_icmp(client, 2s);
  ASSERT_TRUE(got) << "no ICMP Data indication after ChannelData to a closed port";
  EXPECT_EQ(got->peer, dead);
  EXPECT_EQ(got->icmp.code, 3);

  // Counted, and the relay goes on serving the allocation.
  for (int i = 0; i < 50 && metric(mport, "hush_icmp_indications_total") < 2; ++i) std::this_thread::sleep_for(20ms);
  EXPECT_EQ(metric(mport, "hush_icmp_indications_total"), 2);
  UdpSocket live;
  ASSERT_TRUE(client.create_permission(live.local()));
  client.send_indication(live.local(), "still here");
  auto d = live.receive(2s);
  ASSERT_TRUE(d);
  EXPECT_EQ(as_text(*d), "still here");
}

TEST(Icmp, Ipv6PortUnreachableReachesTheClient) {
  Relay relay({"--relay-ip", "127.0.0.1", "--relay-ip", "::1"});
  auto user = relay.credential_username();
  TurnClient client(relay.endpoint(), user, auth::rest_password(relay.secret, user));
  ASSERT_TRUE(client.allocate(true));
  ASSERT_EQ(client.relayed().ip.to_string(), "::1");
  const Endpoint dead = closed_port("::1");
  ASSERT_TRUE(client.create_permission(dead));
  client.send_indication(dead, "v6?");
  auto got = await_icmp(client, 2s);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->peer, dead);
  EXPECT_EQ(got->icmp.type, 1);  // ICMPv6 destination unreachable
  EXPECT_EQ(got->icmp.code, 4);  // port unreachable
  EXPECT_FALSE(got->has_data);
}

// A client over TCP (or TLS) hears of it in its stream, framed like any message.
TEST(Icmp, AClientOverTcpGetsTheIndicationInItsStream) {
  Relay relay;
  TcpTurn c(relay.port);
  const auto user = relay.credential_username();
  ASSERT_TRUE(c.allocate(user, auth::rest_password(relay.secret, user)));
  const Endpoint dead = closed_port("127.0.0.1");
  ASSERT_TRUE(c.bind_channel(0x4001, dead));
  c.send_raw(as_bytes(std::string_view("\x40\x01\x00\x04ping", 8)));
  std::optional<stun::MessageView> m;
  std::vector<std::byte> frame;
  for (int i = 0; i < 5 && !m; ++i) {
    auto f = c.read_frame();
    ASSERT_TRUE(f) << "nothing came back over the connection";
    frame = std::move(*f);
    auto v = stun::MessageView::parse(frame);
    if (v && v->method() == stun::Method::data && v->has(stun::attr::icmp)) m = *v;
  }
  ASSERT_TRUE(m);
  EXPECT_EQ(stun::decode_xor_address(*m->find(stun::attr::xor_peer_address), m->transaction_id_ptr()), dead);
  EXPECT_EQ(stun::decode_icmp(*m->find(stun::attr::icmp))->code, 3);
  EXPECT_FALSE(m->has(stun::attr::data));
}

// A socket that reports ICMP errors (IP_RECVERR) also holds the last one, and its next send
// fails with it instead of sending. Media to a live peer, interleaved with datagrams to a dead
// one on the same relayed socket, must all arrive.
TEST(Icmp, ADeadPeerCostsALivePeerOnTheSameAllocationNothing) {
  Relay relay({"--threads", "1"});
  auto user = relay.credential_username();
  TurnClient client(relay.endpoint(), user, auth::rest_password(relay.secret, user));
  ASSERT_TRUE(client.allocate());
  const Endpoint dead = closed_port("127.0.0.1");
  UdpSocket live;
  ASSERT_TRUE(client.bind_channel(0x4001, dead));
  ASSERT_TRUE(client.bind_channel(0x4002, live.local()));
  constexpr int kPairs = 2000;
  std::set<std::string> arrived;
  for (int i = 0; i < kPairs; ++i) {
    client.send_channel(0x4001, "to nobody");
    client.send_channel(0x4002, std::to_string(i));
    // Drain as we go, so neither receive buffer overflows.
    while (auto d = live.receive(0ms)) arrived.insert(std::string(as_text(*d)));
    if (i % 100 == 99) std::this_thread::sleep_for(2ms);
  }
  const auto until = std::chrono::steady_clock::now() + 3s;
  while (arrived.size() < kPairs && std::chrono::steady_clock::now() < until)
    if (auto d = live.receive(50ms)) arrived.insert(std::string(as_text(*d)));
  EXPECT_EQ(arrived.size(), static_cast<std::size_t>(kPairs)) << "datagrams to the live peer were lost";
  EXPECT_TRUE(await_icmp(client, 2s)) << "the dead peer's errors never reached the client";
}

// With --kernel-fastpath the eBPF program sends a bound channel's datagrams from the relayed
// address without the socket; the ICMP error still comes back to that socket, and the client
// still hears of it.
TEST(Icmp, ErrorsAboutDatagramsTheKernelForwardedReachTheClientToo) {
  std::string why;
  if (!kernel_fastpath_available(&why)) GTEST_SKIP() << why;
  const auto mport = free_tcp_port();
  Relay relay({"--metrics", "127.0.0.1:" + std::to_string(mport), "--kernel-fastpath", "on"});
  auto user = relay.credential_username();
  TurnClient client(relay.endpoint(), user, auth::rest_password(relay.secret, user));
  ASSERT_TRUE(client.allocate());
  Endpoint gone;
  {
    UdpSocket peer;
    gone = peer.local();
    ASSERT_TRUE(client.bind_channel(0x4001, gone));
    for (int i = 0; i < 100 && metric(mport, "hush_kernel_fastpath_flows") != 1; ++i) std::this_thread::sleep_for(10ms);
    ASSERT_EQ(metric(mport, "hush_kernel_fastpath_flows"), 1);
    client.send_channel(0x4001, "while it listens");
    ASSERT_TRUE(peer.receive(2s));
  }  // the peer closes its socket
  client.send_channel(0x4001, "after it left");
  auto got = await_icmp(client, 2s);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->peer, gone);
  EXPECT_EQ(got->icmp.type, 3);
  EXPECT_EQ(got->icmp.code, 3);
  // Both datagrams left through the kernel.
  EXPECT_EQ(metric(mport, "hush_kernel_fastpath_packets_total{direction=\"to_peer\"}"), 2);
}
