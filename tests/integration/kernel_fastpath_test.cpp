// --kernel-fastpath on real sockets: the eBPF program forwards what the core installs, byte
// for byte, pads exactly, forgets deleted channels, never carries a denied peer, leaves nothing
// behind when the relay exits, and keeps checksums right where the receiving kernels verify
// them (network namespaces with checksum offloads off). Needs root, BTF and tcx: elsewhere every
// test here is reported as skipped (ctest's SKIP_REGULAR_EXPRESSION), never as passed.
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <atomic>
#include <cstring>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>

#include "hush/auth/rest_credential.hpp"
#include "hush/base/bytes.hpp"
#include "hush/net/udp_socket.hpp"
#include "hush/stun/channel_data.hpp"
#include "relay_process.hpp"

using namespace hush;
using namespace hush::test;

namespace {

#define REQUIRE_KERNEL_FASTPATH()                                      \
  do {                                                                 \
    std::string why;                                                   \
    if (!kernel_fastpath_available(&why)) GTEST_SKIP() << why;         \
  } while (false)

struct FastRelay {
  std::uint16_t mport = free_tcp_port();
  Relay relay;
  explicit FastRelay(std::vector<std::string> extra = {}, std::string ip = "127.0.0.1")
      : relay(with(std::move(extra)), std::move(ip)) {}
  std::vector<std::string> with(std::vector<std::string> extra) const {
    extra.insert(extra.end(), {"--metrics", "127.0.0.1:" + std::to_string(mport), "--kernel-fastpath", "on"});
    return extra;
  }
  double kernel(const std::string& direction) const {
    return metric(mport, "hush_kernel_fastpath_packets_total{direction=\"" + direction + "\"}");
  }
  double flows() const { return metric(mport, "hush_kernel_fastpath_flows"); }
  // A channel goes into the kernel just after its ChannelBind answer has left (a packet
  // racing that moment is relayed by user space): wait for it before counting exactly.
  void await_flows(double n) const {
    for (int i = 0; i < 100 && flows() != n; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    EXPECT_EQ(flows(), n);
  }
  double user_space() const {
    return metric(mport, "hush_worker_packets_total{worker=\"0\"}") + metric(mport, "hush_worker_packets_total{worker=\"1\"}");
  }
};

TurnClient client_of(Relay& relay) {
  return TurnClient(relay.endpoint(), relay.credential_username(),
                    auth::rest_password(relay.secret, relay.credential_username()),
                    relay.endpoint().ip.is_v4() ? "127.0.0.1" : "::1");
}

// The IDs of the programs or maps ("prog" or "map") loaded now whose name starts with `name`
// (bpftool's plain listing: "ID: type  name NAME ...").
std::set<std::string> loaded(const std::string& kind, const std::string& name) {
  std::set<std::string> ids;
  std::istringstream in(run_command("bpftool " + kind + " show 2>/dev/null").output);
  for (std::string line; std::getline(in, line);)
    if (line.find("name " + name) != std::string::npos) ids.insert(line.substr(0, line.find(':')));
  return ids;
}
std::set<std::string> hush_programs() { return loaded("prog", "hush_ingress"); }
std::set<std::string> hush_maps() { return loaded("map", "hush_"); }

}  // namespace

TEST(KernelFastpath, CoturnClientTrafficGoesThroughTheKernel) {
  REQUIRE_KERNEL_FASTPATH();
  FastRelay r;
  expect_every_message_relayed(r.relay, r.relay.port, "");
  // 10 clients x 100 messages, each way; a message or two per client may go through user
  // space while its channel is being installed.
  EXPECT_GE(r.kernel("to_peer"), 950);
  EXPECT_GE(r.kernel("to_client"), 950);
  EXPECT_EQ(r.kernel("to_peer") + r.kernel("to_client") + r.user_space(), 2000);
  // Without channels (Send and Data indications) nothing is for the kernel.
  const double before = r.kernel("to_peer");
  expect_every_message_relayed(r.relay, r.relay.port, " -s");
  EXPECT_EQ(r.kernel("to_peer"), before);
}

// An IPv4 client with an IPv6 relayed address (coturn's -x): its channels cross families and
// the program changes the IP version on the way; a dual allocation's (-Z) channels to an IPv4
// peer go into the kernel as usual.
TEST(KernelFastpath, CoturnClientChannelsAcrossAddressFamiliesGoThroughTheKernel) {
  REQUIRE_KERNEL_FASTPATH();
  FastRelay r({"--relay-ip", "127.0.0.1", "--relay-ip", "::1"});
  expect_every_message_relayed(r.relay, r.relay.port, " -x", "::1");
  EXPECT_GE(r.kernel("to_peer"), 950);
  EXPECT_GE(r.kernel("to_client"), 950);
  EXPECT_EQ(r.kernel("to_peer") + r.kernel("to_client") + r.user_space(), 2000);
  expect_every_message_relayed(r.relay, r.relay.port, " -Z", "127.0.0.1");
  EXPECT_GE(r.kernel("to_peer"), 1900);
  EXPECT_GE(r.kernel("to_client"), 1900);
}

namespace {

// Payloads of awkward sizes on channel 0x4abc of a client with its relayed address, to and
// from `peer_ip`: each must pass byte for byte through the kernel, and only through it.
void expect_payloads_pass_through_the_kernel(const std::string& client_ip, const std::string& peer_ip,
                                             std::vector<std::string> extra = {}) {
  SCOPED_TRACE("client " + client_ip + ", peer " + peer_ip);
  FastRelay r(std::move(extra), client_ip);
  UdpSocket peer(peer_ip);
  TurnClient c = client_of(r.relay);
  ASSERT_TRUE(c.allocate(peer_ip == "::1")) << c.last_error();
  ASSERT_EQ(c.relayed().ip.is_v4(), peer_ip == "127.0.0.1");
  ASSERT_TRUE(c.bind_channel(0x4abc, peer.local()));
  r.await_flows(1);
  int sizes = 0;
  for (std::size_t size : {1u, 2u, 3u, 5u, 100u, 161u, 511u, 512u, 513u, 1000u, 1199u, 1400u}) {
    std::string payload(size, '\0');
    for (std::size_t i = 0; i < size; ++i) payload[i] = static_cast<char>((i * 7 + size) & 0xFF);
    c.send_channel(0x4abc, payload);
    Endpoint from;
    auto at_peer = peer.receive(std::chrono::seconds(2), &from);
    ASSERT_TRUE(at_peer) << "size " << size;
    EXPECT_EQ(as_text(*at_peer), payload) << "size " << size;
    EXPECT_EQ(from, c.relayed());
    peer.send_to(c.relayed(), as_bytes(payload));
    auto back = c.socket().receive(std::chrono::seconds(2));
    ASSERT_TRUE(back) << "size " << size;
    EXPECT_EQ(as_text(*back), as_text(channel_data(0x4abc, payload)).substr(0, 4 + size)) << "size " << size;
    EXPECT_EQ(back->size(), 4 + size);  // no padding without --padding-udp
    ++sizes;
  }
  EXPECT_EQ(r.kernel("to_peer"), sizes);
  EXPECT_EQ(r.kernel("to_client"), sizes);
  EXPECT_EQ(r.user_space(), 0);
}

}  // namespace

TEST(KernelFastpath, PayloadsPassByteForByteBothWaysOverIpv4AndIpv6) {
  REQUIRE_KERNEL_FASTPATH();
  expect_payloads_pass_through_the_kernel("127.0.0.1", "127.0.0.1");
  expect_payloads_pass_through_the_kernel("::1", "::1");
}

// Across families: an IPv4 client to an IPv6 peer and an IPv6 client (which gets an IPv4
// relayed address by default) to an IPv4 peer. Every packet changes IP version in the kernel
// and keeps its payload.
TEST(KernelFastpath, PayloadsPassByteForByteAcrossAddressFamilies) {
  REQUIRE_KERNEL_FASTPATH();
  const std::vector<std::string> both{"--relay-ip", "127.0.0.1", "--relay-ip", "::1"};
  expect_payloads_pass_through_the_kernel("127.0.0.1", "::1", both);
  expect_payloads_pass_through_the_kernel("::1", "127.0.0.1", both);
}

namespace {

// Marks what `fd` sends with `tos` (IPv4 type of service or IPv6 traffic class) and asks to
// be told the one each datagram arrives with.
void mark_and_watch_tos(int fd, bool v6, int tos) {
  const int on = 1;
  if (v6) {
    ASSERT_EQ(::setsockopt(fd, IPPROTO_IPV6, IPV6_TCLASS, &tos, sizeof tos), 0);
    ASSERT_EQ(::setsockopt(fd, IPPROTO_IPV6, IPV6_RECVTCLASS, &on, sizeof on), 0);
  } else {
    ASSERT_EQ(::setsockopt(fd, IPPROTO_IP, IP_TOS, &tos, sizeof tos), 0);
    ASSERT_EQ(::setsockopt(fd, IPPROTO_IP, IP_RECVTOS, &on, sizeof on), 0);
  }
}

// One datagram and the TOS or traffic class it arrived with (-1: none reported or nothing
// within 2 s).
std::pair<std::string, int> receive_with_tos(int fd) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, 2000) != 1) return {"", -1};
  char buf[2048];
  alignas(cmsghdr) char control[128];
  iovec iov{buf, sizeof buf};
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = control;
  m.msg_controllen = sizeof control;
  const ssize_t n = ::recvmsg(fd, &m, 0);
  if (n < 0) return {"", -1};
  int tos = -1;
  for (cmsghdr* c = CMSG_FIRSTHDR(&m); c != nullptr; c = CMSG_NXTHDR(&m, c)) {
    if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TOS) tos = *reinterpret_cast<unsigned char*>(CMSG_DATA(c));
    if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_TCLASS) std::memcpy(&tos, CMSG_DATA(c), sizeof tos);
  }
  return {std::string(buf, static_cast<std::size_t>(n)), tos};
}

}  // namespace

// DSCP and ECN leave as they came (RFC 8656 §14's preferred behaviour for both), also when
// the packet changes IP version: an IPv4 client and an IPv6 client, each to an IPv4 peer.
TEST(KernelFastpath, DscpAndEcnPassThroughAlsoAcrossAddressFamilies) {
  REQUIRE_KERNEL_FASTPATH();
  for (const std::string client_ip : {"127.0.0.1", "::1"}) {
    SCOPED_TRACE("client " + client_ip);
    FastRelay r({"--relay-ip", "127.0.0.1"}, client_ip);
    UdpSocket peer("127.0.0.1");
    TurnClient c = client_of(r.relay);
    ASSERT_TRUE(c.allocate());
    ASSERT_TRUE(c.bind_channel(0x4001, peer.local()));
    r.await_flows(1);
    mark_and_watch_tos(c.socket().fd(), client_ip == "::1", 0xBA);  // EF, ECT(0)
    mark_and_watch_tos(peer.fd(), false, 0x8A);                      // AF41, ECT(0)
    c.send_channel(0x4001, "to the peer");
    const auto [at_peer, peer_tos] = receive_with_tos(peer.fd());
    EXPECT_EQ(at_peer, "to the peer");
    EXPECT_EQ(peer_tos, 0xBA);
    peer.send_to(c.relayed(), as_bytes("to the client"));
    const auto [back, client_tos] = receive_with_tos(c.socket().fd());
    EXPECT_EQ(back, as_text(channel_data(0x4001, "to the client")));
    EXPECT_EQ(client_tos, 0x8A);
    EXPECT_EQ(r.kernel("to_peer"), 1);
    EXPECT_EQ(r.kernel("to_client"), 1);
  }
}

// A relay-only call between an IPv4 user and an IPv6 user of one relay: both get IPv4
// relayed addresses and bind a channel to each other's, and the kernel carries ChannelData
// from one client straight to the other, changing IP version on the way.
TEST(KernelFastpath, ARelayOnlyCallBetweenAnIpv4AndAnIpv6UserGoesClientToClientInTheKernel) {
  REQUIRE_KERNEL_FASTPATH();
  const std::uint16_t port6 = free_udp_port();
  FastRelay r({"--relay-ip", "127.0.0.1", "--listen", "[::1]:" + std::to_string(port6)});
  TurnClient a = client_of(r.relay);
  TurnClient b(Endpoint{*IpAddress::parse("::1"), port6}, r.relay.credential_username(),
               auth::rest_password(r.relay.secret, r.relay.credential_username()), "::1");
  ASSERT_TRUE(a.allocate());
  ASSERT_TRUE(b.allocate()) << b.last_error();
  ASSERT_TRUE(a.relayed().ip.is_v4());
  ASSERT_TRUE(b.relayed().ip.is_v4());
  ASSERT_TRUE(a.bind_channel(0x4001, b.relayed()));
  ASSERT_TRUE(b.bind_channel(0x4002, a.relayed()));
  r.await_flows(2);
  int sent = 0;
  for (std::size_t size : {1u, 3u, 100u, 1000u}) {
    const std::string to_b(size, 'b'), to_a(size + 1, 'a');
    a.send_channel(0x4001, to_b);
    auto at_b = b.socket().receive(std::chrono::seconds(2));
    ASSERT_TRUE(at_b) << "size " << size;
    EXPECT_EQ(as_text(*at_b), as_text(channel_data(0x4002, to_b)).substr(0, 4 + to_b.size()));
    b.send_channel(0x4002, to_a);
    auto at_a = a.socket().receive(std::chrono::seconds(2));
    ASSERT_TRUE(at_a) << "size " << size;
    EXPECT_EQ(as_text(*at_a), as_text(channel_data(0x4001, to_a)).substr(0, 4 + to_a.size()));
    sent += 2;
  }
  EXPECT_EQ(r.kernel("to_client"), sent);  // each counted once on the way in, once out
  EXPECT_EQ(r.kernel("to_peer"), sent);
  EXPECT_EQ(r.user_space(), 0);
}

// IPv4 lets a sender leave the UDP checksum out (SO_NO_CHECK); IPv6 requires one, so a
// datagram that changes version on its way to an IPv6 client gets one computed over all of it,
// which the client's kernel verifies (loopback hands it over unchecked: CHECKSUM_NONE).
TEST(KernelFastpath, AnIpv4DatagramWithoutChecksumGetsOneWhenItBecomesIpv6) {
  REQUIRE_KERNEL_FASTPATH();
  FastRelay r({"--relay-ip", "127.0.0.1"}, "::1");
  UdpSocket peer("127.0.0.1");
  const int on = 1;
  ASSERT_EQ(::setsockopt(peer.fd(), SOL_SOCKET, SO_NO_CHECK, &on, sizeof on), 0);
  TurnClient c = client_of(r.relay);
  ASSERT_TRUE(c.allocate());
  ASSERT_TRUE(c.relayed().ip.is_v4());
  ASSERT_TRUE(c.bind_channel(0x4001, peer.local()));
  r.await_flows(1);
  int sizes = 0;
  for (std::size_t size : {1u, 2u, 3u, 100u, 513u, 1400u}) {
    std::string payload(size, '\0');
    for (std::size_t i = 0; i < size; ++i) payload[i] = static_cast<char>((i * 11 + size) & 0xFF);
    peer.send_to(c.relayed(), as_bytes(payload));
    auto back = c.socket().receive(std::chrono::seconds(2));
    ASSERT_TRUE(back) << "size " << size;
    EXPECT_EQ(as_text(*back), as_text(channel_data(0x4001, payload)).substr(0, 4 + size)) << "size " << size;
    ++sizes;
  }
  EXPECT_EQ(r.kernel("to_client"), sizes);
  EXPECT_EQ(r.user_space(), 0);
}

// Padding from an IPv4 peer to an IPv4 client, and to an IPv6 client (the packet changes IP
// version and grows in the same pass).
TEST(KernelFastpath, PaddingSizesAreExact) {
  REQUIRE_KERNEL_FASTPATH();
  const std::pair<std::string, std::string> cases[] = {
      {"127.0.0.1", "block:128"}, {"127.0.0.1", "fixed:256"}, {"::1", "block:128"}, {"::1", "fixed:256"}};
  for (const auto& [client_ip, padding] : cases) {
    SCOPED_TRACE(client_ip + " " + padding);
    FastRelay r({"--padding", padding, "--padding-udp", "--relay-ip", "127.0.0.1"}, client_ip);
    UdpSocket peer("127.0.0.1");
    TurnClient c = client_of(r.relay);
    ASSERT_TRUE(c.allocate());
    ASSERT_TRUE(c.bind_channel(0x4001, peer.local()));
    r.await_flows(1);
    for (std::size_t size : {1u, 100u, 124u, 125u, 252u, 253u, 700u}) {
      const std::string payload(size, 'm');
      peer.send_to(c.relayed(), as_bytes(payload));
      auto back = c.socket().receive(std::chrono::seconds(2));
      ASSERT_TRUE(back);
      const std::size_t framed = 4 + size;
      const std::size_t expected = padding == "block:128" ? (framed + 127) / 128 * 128
                                   : framed <= 256        ? 256
                                                          : (framed + 255) / 256 * 256;
      EXPECT_EQ(back->size(), expected) << padding << " size " << size;
      EXPECT_EQ(as_text(*back).substr(0, framed), as_text(channel_data(0x4001, payload)).substr(0, framed));
      for (std::size_t i = framed; i < back->size(); ++i) ASSERT_EQ((*back)[i], std::byte{0}) << "pad byte " << i;
    }
    EXPECT_EQ(r.kernel("to_client"), 7) << padding;
    // Towards the peer nothing is padded.
    c.send_channel(0x4001, "exact");
    auto at_peer = peer.receive(std::chrono::seconds(2));
    ASSERT_TRUE(at_peer);
    EXPECT_EQ(as_text(*at_peer), "exact");
  }
}

TEST(KernelFastpath, ADeletedAllocationLeavesTheKernelAndADeniedPeerNeverEntersIt) {
  REQUIRE_KERNEL_FASTPATH();
  FastRelay r;
  UdpSocket peer;
  TurnClient c = client_of(r.relay);
  ASSERT_TRUE(c.allocate());
  // The relay's own listening port is never a peer: 403, and nothing installed.
  EXPECT_FALSE(c.bind_channel(0x4002, r.relay.endpoint()));
  EXPECT_EQ(c.last_error(), 403);
  EXPECT_EQ(r.flows(), 0);
  ASSERT_TRUE(c.bind_channel(0x4001, peer.local()));
  r.await_flows(1);
  c.send_channel(0x4001, "before");
  ASSERT_TRUE(peer.receive(std::chrono::seconds(2)));
  EXPECT_EQ(r.kernel("to_peer"), 1);
  auto gone = c.transact(stun::Method::refresh, [](stun::MessageBuilder& b) { b.add_u32(stun::attr::lifetime, 0); });
  ASSERT_TRUE(gone);
  EXPECT_EQ(r.flows(), 0);
  // Were the entry still in the kernel, this would reach the peer.
  c.send_channel(0x4001, "after");
  EXPECT_FALSE(peer.receive(std::chrono::milliseconds(300)));
  EXPECT_EQ(r.kernel("to_peer"), 1);  // counted before the entry went
}

TEST(KernelFastpath, NothingStaysLoadedAfterTheRelayExitsEvenWhenKilled) {
  REQUIRE_KERNEL_FASTPATH();
  for (const int sig : {SIGINT, SIGKILL}) {
    const auto programs_before = hush_programs();
    const auto maps_before = hush_maps();
    std::set<std::string> ours;
    {
      FastRelay r;
      LiveCall call(r.relay);
      ASSERT_TRUE(call.works());
      for (const auto& id : hush_programs())
        if (!programs_before.count(id)) ours.insert(id);
      EXPECT_EQ(ours.size(), 1u) << "hush_ingress";
      r.relay.process().stop(sig);
    }
    // The kernel frees programs and maps once their last reference (the tcx link, the
    // process's descriptors) is gone; that takes a moment after exit.
    bool clean = false;
    for (int i = 0; i < 50 && !clean; ++i) {
      clean = true;
      for (const auto& id : hush_programs()) clean &= programs_before.count(id) > 0;
      for (const auto& id : hush_maps()) clean &= maps_before.count(id) > 0;
      if (!clean) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    EXPECT_TRUE(clean) << "signal " << sig << ":\n" << run_command("bpftool prog show; bpftool map show").output;
  }
}

// Client, relay and peer in three network namespaces joined by veth pairs whose checksum
// offloads are off, so every datagram carries a full UDP checksum that the receiving kernel
// verifies, and the relay's namespace forwards neither IPv4 nor IPv6. The kernel path
// rewrites, routes and sends through the neighbour table (bpf_redirect_neigh) as on a real
// host: IPv4 end to end, an IPv6 client with an IPv4 relayed address to an IPv4 peer, and an
// IPv4 client with an IPv6 relayed address (-x) to an IPv6 peer.
TEST(KernelFastpath, ForwardsBetweenHostsWithChecksumsTheReceiversVerify) {
  REQUIRE_KERNEL_FASTPATH();
  if (run_command("command -v ethtool").exit_code != 0) GTEST_SKIP() << "ethtool not installed";
  const std::string id = std::to_string(::getpid() % 100000);
  const std::string c = "hushc" + id, s = "hushr" + id, p = "hushp" + id;
  struct Cleanup {
    std::string c, s, p;
    ~Cleanup() { run_command("ip netns del " + c + "; ip netns del " + s + "; ip netns del " + p); }
  } cleanup{c, s, p};
  const std::string setup =
      "set -e; for n in " + c + " " + s + " " + p + "; do ip netns add $n; ip -n $n link set lo up; done;"
      "ip link add vc type veth peer name vs1; ip link set vc netns " + c + "; ip link set vs1 netns " + s + ";"
      "ip link add vp type veth peer name vs2; ip link set vp netns " + p + "; ip link set vs2 netns " + s + ";"
      "ip -n " + c + " addr add 10.77.1.2/24 dev vc; ip -n " + s + " addr add 10.77.1.1/24 dev vs1;"
      "ip -n " + p + " addr add 10.77.2.2/24 dev vp; ip -n " + s + " addr add 10.77.2.1/24 dev vs2;"
      "ip -n " + c + " addr add fd77:1::2/64 dev vc nodad; ip -n " + s + " addr add fd77:1::1/64 dev vs1 nodad;"
      "ip -n " + p + " addr add fd77:2::2/64 dev vp nodad; ip -n " + s + " addr add fd77:2::1/64 dev vs2 nodad;"
      "for x in " + c + ":vc " + s + ":vs1 " + s + ":vs2 " + p + ":vp; do n=${x%%:*}; d=${x#*:};"
      " ip netns exec $n ethtool -K $d rx off tx off >/dev/null; ip -n $n link set $d up; done;"
      "ip netns exec " + s + " sysctl -qw net.ipv4.ip_forward=0 net.ipv6.conf.all.forwarding=0";
  auto made = run_command(setup);
  ASSERT_EQ(made.exit_code, 0) << made.output;

  const std::uint16_t port = 3478, peer_port = 9000;
  const std::string secret_file = "/tmp/hush-ns-secret-" + id;
  run_command("echo nssecret > " + secret_file);
  Process relay("ip", {"netns", "exec", s, HUSH_RELAY_BINARY, "--listen", "10.77.1.1:3478", "--listen",
                       "[fd77:1::1]:3478", "--relay-ip", "10.77.2.1", "--relay-ip", "fd77:2::1", "--secret-file",
                       secret_file, "--allow-peer", "10.77.2.0/24", "--allow-peer", "fd77:2::/64", "--kernel-fastpath",
                       "on", "--metrics", "127.0.0.1:9100", "--threads", "1"});
  Process echo("ip", {"netns", "exec", p, "turnutils_peer", "-L", "10.77.2.2", "-L", "fd77:2::2", "-p",
                      std::to_string(peer_port)});
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  ASSERT_TRUE(relay.running()) << relay.output();
  auto count = [&](const std::string& ns, const std::string& counter) {
    auto out = run_command("ip netns exec " + ns + " nstat -asz " + counter + " | awk '/" + counter + " / {print $2}'");
    return std::atol(out.output.c_str());
  };
  // What the kernel forwarded, from the relay's /metrics inside its namespace.
  auto kernel = [&](const std::string& direction) {
    auto out = run_command("ip netns exec " + s +
                           " bash -c 'exec 3<>/dev/tcp/127.0.0.1/9100; printf \"GET /metrics HTTP/1.0\\r\\n\\r\\n\" >&3; "
                           "cat <&3' | awk '/^hush_kernel_fastpath_packets_total.direction=\"" + direction + "\"/ {print $2}'");
    return std::atol(out.output.c_str());
  };
  struct Case {
    std::string name, flags, peer, server;
  };
  for (const Case& k : {Case{"ipv4", "", "10.77.2.2", "10.77.1.1"}, Case{"ipv6 client", "", "10.77.2.2", "fd77:1::1"},
                        Case{"ipv6 peer", " -x", "fd77:2::2", "10.77.1.1"}}) {
    const long peer_in = count(p, "UdpInDatagrams") + count(p, "Udp6InDatagrams");
    const long to_peer = kernel("to_peer"), to_client = kernel("to_client");
    const auto r = run_command("ip netns exec " + c + " timeout 60 turnutils_uclient" + k.flags +
                               " -W nssecret -u user -e " + k.peer + " -r " + std::to_string(peer_port) +
                               " -m 4 -n 100 -l 300 -p " + std::to_string(port) + " " + k.server + " 2>&1 | tail -5");
    EXPECT_NE(r.output.find("Total lost packets 0 "), std::string::npos) << k.name << "\n" << r.output << relay.output();
    for (const auto& ns : {p, c}) {
      EXPECT_EQ(count(ns, "UdpInCsumErrors"), 0) << k.name << " " << ns;
      EXPECT_EQ(count(ns, "Udp6InCsumErrors"), 0) << k.name << " " << ns;
    }
    EXPECT_GE(count(p, "UdpInDatagrams") + count(p, "Udp6InDatagrams") - peer_in, 400) << k.name;
    // 4 x 100 each way, less the first message or two of each client.
    EXPECT_GE(kernel("to_peer") - to_peer, 390) << k.name;
    EXPECT_GE(kernel("to_client") - to_client, 390) << k.name;
  }
  run_command("rm -f " + secret_file);
}

// Lifetimes are at least 60 s, so this waits one out: the allocation expires on the relay's
// timer, not by a request, and its channel leaves the kernel with it.
TEST(KernelFastpath, AnExpiredAllocationLeavesTheKernel) {
  REQUIRE_KERNEL_FASTPATH();
  FastRelay r({"--default-lifetime", "60", "--max-lifetime", "60"});
  UdpSocket peer;
  TurnClient c = client_of(r.relay);
  ASSERT_TRUE(c.allocate());
  ASSERT_TRUE(c.bind_channel(0x4001, peer.local()));
  r.await_flows(1);
  c.send_channel(0x4001, "alive");
  ASSERT_TRUE(peer.receive(std::chrono::seconds(2)));
  EXPECT_EQ(r.kernel("to_peer"), 1);
  std::this_thread::sleep_for(std::chrono::seconds(61));
  EXPECT_EQ(r.flows(), 0);
  EXPECT_EQ(metric(r.mport, "hush_allocations_expired_total"), 1);
  c.send_channel(0x4001, "expired");
  EXPECT_FALSE(peer.receive(std::chrono::milliseconds(300)));
}

TEST(KernelFastpath, AFullTableKeepsNewChannelsInUserSpace) {
  REQUIRE_KERNEL_FASTPATH();
  FastRelay r({"--kernel-fastpath-entries", "1"});
  UdpSocket peer1, peer2;
  TurnClient c = client_of(r.relay);
  ASSERT_TRUE(c.allocate());
  ASSERT_TRUE(c.bind_channel(0x4001, peer1.local()));
  ASSERT_TRUE(c.bind_channel(0x4002, peer2.local()));
  r.await_flows(1);
  EXPECT_EQ(metric(r.mport, "hush_kernel_fastpath_install_failures_total"), 1);
  for (int i = 0; i < 5; ++i) {
    c.send_channel(0x4001, "kernel");
    c.send_channel(0x4002, "user space");
    auto a = peer1.receive(std::chrono::seconds(2));
    auto b = peer2.receive(std::chrono::seconds(2));
    ASSERT_TRUE(a && b);
    EXPECT_EQ(as_text(*a), "kernel");
    EXPECT_EQ(as_text(*b), "user space");
  }
  EXPECT_EQ(r.kernel("to_peer"), 5);
  EXPECT_EQ(r.user_space(), 5);
}

// The kernel must not overtake the relay: a client learns a channel from the ChannelBind
// success response, and ChannelData on it before that would be discarded (libnice does). The
// peer floods while the client binds; nothing on the channel may arrive before the answer.
TEST(KernelFastpath, NoChannelDataReachesTheClientBeforeItsChannelBindAnswer) {
  REQUIRE_KERNEL_FASTPATH();
  FastRelay r;
  for (int round = 0; round < 5; ++round) {
    UdpSocket peer;
    TurnClient c = client_of(r.relay);
    ASSERT_TRUE(c.allocate());
    ASSERT_TRUE(c.create_permission(peer.local()));
    std::atomic<bool> stop{false};
    std::thread flood([&] {
      while (!stop) {
        peer.send_to(c.relayed(), as_bytes("media"));
        std::this_thread::sleep_for(std::chrono::microseconds(20));
      }
    });
    std::vector<std::vector<std::byte>> seen;
    c.seen = &seen;
    const bool bound = c.bind_channel(0x4001, peer.local());
    for (int i = 0; i < 100; ++i)
      if (auto d = c.socket().receive(std::chrono::milliseconds(2))) seen.push_back(*d);
    stop = true;
    flood.join();
    ASSERT_TRUE(bound);
    std::size_t answer = seen.size(), first_channel_data = seen.size();
    for (std::size_t i = 0; i < seen.size(); ++i) {
      const auto& d = seen[i];
      if (d.size() >= 4 && stun::first_byte_is_channel_data(d[0])) {
        first_channel_data = std::min(first_channel_data, i);
      } else if (d.size() >= 2 && load_u16(d.data()) ==
                                      stun::message_type(stun::Method::channel_bind, stun::Class::success)) {
        answer = std::min(answer, i);
      }
    }
    ASSERT_LT(answer, seen.size()) << "round " << round;
    ASSERT_LT(first_channel_data, seen.size()) << "round " << round << ": no ChannelData after the bind";
    EXPECT_LT(answer, first_channel_data) << "round " << round;
  }
  EXPECT_GT(r.kernel("to_client"), 0);  // the kernel did take over
}

// A relay-only call where one side sends Send indications (always user space) to the other
// side's relayed address, whose channel back to the client is in the kernel: the datagrams
// user space relays between the two relayed addresses must stay single (no UDP GSO), or the
// eBPF program would pass the GSO packets up unhandled and the flow would be split between
// the kernel and user space, out of order.
TEST(KernelFastpath, RelayOnlyBurstsThroughUserSpaceStayInTheKernelFlowAndInOrder) {
  REQUIRE_KERNEL_FASTPATH();
  FastRelay r;
  TurnClient a = client_of(r.relay);
  TurnClient b = client_of(r.relay);
  ASSERT_TRUE(a.allocate());
  ASSERT_TRUE(b.allocate());
  ASSERT_TRUE(a.create_permission(b.relayed()));
  ASSERT_TRUE(b.bind_channel(0x4005, a.relayed()));
  r.await_flows(1);
  constexpr int kBursts = 10, kBurst = 40;
  for (int burst = 0; burst < kBursts; ++burst) {
    // One sendmmsg of same-size indications: the relay reads them in batches.
    std::vector<std::vector<std::byte>> msgs;
    for (int i = 0; i < kBurst; ++i) {
      char text[32];
      std::snprintf(text, sizeof text, "burst %03d msg %03d", burst, i);
      msgs.push_back(a.indication(b.relayed(), std::string(text, 17)));
    }
    std::vector<mmsghdr> h(msgs.size());
    std::vector<iovec> iov(msgs.size());
    sockaddr_storage sa;
    const socklen_t len = net::to_sockaddr(r.relay.endpoint(), sa);
    for (std::size_t i = 0; i < msgs.size(); ++i) {
      iov[i] = iovec{msgs[i].data(), msgs[i].size()};
      h[i] = mmsghdr{};
      h[i].msg_hdr.msg_name = &sa;
      h[i].msg_hdr.msg_namelen = len;
      h[i].msg_hdr.msg_iov = &iov[i];
      h[i].msg_hdr.msg_iovlen = 1;
    }
    ASSERT_EQ(::sendmmsg(a.socket().fd(), h.data(), static_cast<unsigned>(h.size()), 0), kBurst);
    for (int i = 0; i < kBurst; ++i) {
      auto d = b.socket().receive(std::chrono::seconds(2));
      ASSERT_TRUE(d) << "burst " << burst << " message " << i;
      char text[32];
      std::snprintf(text, sizeof text, "burst %03d msg %03d", burst, i);
      EXPECT_EQ(as_text(*d).substr(4), std::string(text, 17)) << "out of order";
    }
  }
  // Every one reached client B through the kernel's flow, none through user space.
  EXPECT_EQ(r.kernel("to_client"), kBursts * kBurst);
}
