// RFC 6062 TCP allocations over real sockets, with our own client on both ends: Connect,
// ConnectionAttempt, ConnectionBind, the errors §5 asks for, bytes passing unchanged both
// ways, and connections ending with their allocation or their peer. coturn's client is the
// independent judge in uclient_test.cpp (UclientTcpRelay).
#include <gtest/gtest.h>

#include <random>
#include <thread>

#include "hush/auth/rest_credential.hpp"
#include "relay_process.hpp"
#include "tcp_turn.hpp"

using namespace hush;
using namespace hush::test;

namespace {

// A TCP peer that accepts connections, on 127.0.0.1 or [::1].
class PeerListener {
 public:
  explicit PeerListener(bool v6 = false) {
    fd_ = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
    sockaddr_storage ss{};
    const socklen_t len = net::to_sockaddr(*Endpoint::parse(v6 ? "[::1]:0" : "127.0.0.1:0"), ss);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&ss), len) != 0 || ::listen(fd_, 8) != 0)
      throw std::runtime_error("peer listener");
  }
  ~PeerListener() { ::close(fd_); }
  Endpoint local() const { return net::local_endpoint(fd_); }
  std::unique_ptr<TcpTurn> accept(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return nullptr;
    const int c = ::accept(fd_, nullptr, nullptr);
    return c < 0 ? nullptr : std::make_unique<TcpTurn>(TcpTurn::Adopt{}, c);
  }

 private:
  int fd_;
};

std::function<void(stun::MessageBuilder&)> peer_attr(const Endpoint& peer) {
  return [peer](stun::MessageBuilder& b) { b.add_xor_address(stun::attr::xor_peer_address, peer); };
}
std::function<void(stun::MessageBuilder&)> id_attr(std::uint32_t id) {
  return [id](stun::MessageBuilder& b) { b.add_u32(stun::attr::connection_id, id); };
}

std::uint32_t connection_id_of(const std::vector<std::byte>& answer) {
  auto m = stun::MessageView::parse(answer);
  auto id = m ? m->find_u32(stun::attr::connection_id) : std::nullopt;
  return id ? *id : 0;
}

// Media-like bytes: every byte value, things that look like STUN and ChannelData headers, and
// random SRTP-like payload. A relay that parsed or reframed them would change them.
std::vector<std::byte> media_bytes(std::size_t n, unsigned seed) {
  std::vector<std::byte> out;
  for (int i = 0; i < 256; ++i) out.push_back(static_cast<std::byte>(i));
  const auto stun_like = build(stun::Method::binding, stun::Class::request, random_tid(), {});
  out.insert(out.end(), stun_like.begin(), stun_like.end());
  const auto channel_like = channel_data(0x4001, "not a frame");
  out.insert(out.end(), channel_like.begin(), channel_like.end());
  std::mt19937 rng(seed);
  while (out.size() < n) out.push_back(static_cast<std::byte>(rng()));
  out.resize(n);
  return out;
}

struct TcpAllocation {
  Relay& relay;
  bool v6;
  std::string user = relay.credential_username();
  TcpTurn control{relay.port, v6};
  explicit TcpAllocation(Relay& r, bool ipv6 = false) : relay(r), v6(ipv6) {}
  bool allocate() { return control.allocate(user, auth::rest_password(relay.secret, user), v6, 6); }
  // A new client connection that binds `id` (with the control connection's nonce).
  std::unique_ptr<TcpTurn> bind(std::uint32_t id, int* error = nullptr) {
    auto data = std::make_unique<TcpTurn>(relay.port, v6);
    data->use_credentials(control.credentials());
    const int e = data->request(stun::Method::connection_bind, id_attr(id));
    if (error != nullptr) *error = e;
    return e == 0 ? std::move(data) : nullptr;
  }
};

}  // namespace

TEST(TcpRelay, ConnectAndConnectionBindCarryBytesBothWaysUnchanged) {
  const auto mport = free_tcp_port();
  Relay relay(with_metrics(mport));
  PeerListener listener;
  const Endpoint peer_at = listener.local();
  TcpAllocation a(relay);
  ASSERT_TRUE(a.allocate());
  const Endpoint relayed = a.control.relayed();
  EXPECT_EQ(relayed.ip.to_string(), "127.0.0.1");

  // §5.2: a permission first, as for UDP.
  EXPECT_EQ(a.control.request(stun::Method::connect, peer_attr(peer_at)), 403);
  EXPECT_FALSE(listener.accept(std::chrono::milliseconds(200)));
  ASSERT_TRUE(a.control.create_permission(peer_at));
  std::vector<std::byte> answer;
  ASSERT_EQ(a.control.request(stun::Method::connect, peer_attr(peer_at), &answer), 0);
  const std::uint32_t id = connection_id_of(answer);
  ASSERT_NE(id, 0u);
  auto peer = listener.accept(std::chrono::seconds(2));
  ASSERT_TRUE(peer);
  EXPECT_EQ(peer->remote(), relayed) << "the peer sees the relayed address, never the client's";
  EXPECT_EQ(a.control.request(stun::Method::connect, peer_attr(peer_at)), 446);

  // §5.3: never on the control connection, never for an unknown id.
  EXPECT_EQ(a.control.request(stun::Method::connection_bind, id_attr(id)), 400);
  int error = 0;
  EXPECT_FALSE(a.bind(id ^ 0x5a5a5a5a, &error));
  EXPECT_EQ(error, 400);

  // The ConnectionBind and the first bytes in one segment: the bytes go to the peer.
  TcpTurn data(relay.port);
  data.use_credentials(a.control.credentials());
  auto bind = build(stun::Method::connection_bind, stun::Class::request, random_tid(), id_attr(id),
                    &a.control.credentials());
  const std::string early = "early bytes after the ConnectionBind";
  bind.insert(bind.end(), reinterpret_cast<const std::byte*>(early.data()),
              reinterpret_cast<const std::byte*>(early.data()) + early.size());
  data.send_raw(bind);
  auto bound = data.read_frame();
  ASSERT_TRUE(bound);
  ASSERT_FALSE(stun::MessageView::parse(*bound)->has(stun::attr::error_code));
  auto got_early = peer->read_exact(early.size(), std::chrono::seconds(2));
  ASSERT_TRUE(got_early);
  EXPECT_EQ(as_text(*got_early), early);
  // A second bind of the same id finds nothing left to bind.
  EXPECT_FALSE(a.bind(id, &error));
  EXPECT_EQ(error, 400);

  const auto up = media_bytes(256 * 1024, 1);
  data.send_raw(up);
  auto at_peer = peer->read_exact(up.size(), std::chrono::seconds(5));
  ASSERT_TRUE(at_peer);
  EXPECT_TRUE(*at_peer == up) << "bytes to the peer changed";
  const auto down = media_bytes(256 * 1024, 2);
  peer->send_raw(down);
  auto at_client = data.read_exact(down.size(), std::chrono::seconds(5));
  ASSERT_TRUE(at_client);
  EXPECT_TRUE(*at_client == down) << "bytes to the client changed";
  EXPECT_EQ(metric(mport, "hush_tcp_relay_connections_total"), 1);
  EXPECT_EQ(metric(mport, R"(hush_tcp_relay_bytes_total{direction="to_peer"})"), early.size() + up.size());
  EXPECT_EQ(metric(mport, R"(hush_tcp_relay_bytes_total{direction="to_client"})"), down.size());

  // Deleting the allocation closes its peer and data connections (RFC 6062 §5).
  EXPECT_EQ(a.control.request(stun::Method::refresh, [](stun::MessageBuilder& b) { b.add_u32(stun::attr::lifetime, 0); }), 0);
  EXPECT_TRUE(peer->closed_by_peer(std::chrono::seconds(2)));
  EXPECT_TRUE(data.closed_by_peer(std::chrono::seconds(2)));
  // Debug logging saw all of it and names no address, port or username.
  const std::string log = relay.process().output();
  for (const std::string& secret : {std::to_string(peer_at.port), std::to_string(relayed.port), a.user})
    EXPECT_EQ(log.find(secret), std::string::npos) << secret << " in\n" << log;
}

TEST(TcpRelay, InboundPeersNeedAPermissionAndAreAnnouncedByConnectionAttempt) {
  Relay relay;
  TcpAllocation a(relay);
  ASSERT_TRUE(a.allocate());
  const Endpoint relayed = a.control.relayed();
  {
    // §5.4: no permission, no connection, and the client hears nothing.
    TcpTurn stranger(relayed.port);
    EXPECT_TRUE(stranger.closed_by_peer(std::chrono::seconds(2)));
    EXPECT_FALSE(a.control.read_frame(std::chrono::milliseconds(300)));
  }
  ASSERT_TRUE(a.control.create_permission(*Endpoint::parse("127.0.0.1:1")));  // permissions ignore ports
  TcpTurn peer(relayed.port);
  const std::string before = "sent before anyone bound the connection";
  peer.send_raw(as_bytes(before));
  auto attempt = a.control.read_frame(std::chrono::seconds(2));
  ASSERT_TRUE(attempt);
  auto m = stun::MessageView::parse(*attempt);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->method(), stun::Method::connection_attempt);
  EXPECT_EQ(m->message_class(), stun::Class::indication);
  auto from = stun::decode_xor_address(*m->find(stun::attr::xor_peer_address), m->transaction_id_ptr());
  ASSERT_TRUE(from);
  EXPECT_EQ(*from, peer.local());
  const std::uint32_t id = connection_id_of(*attempt);
  ASSERT_NE(id, 0u);

  auto data = a.bind(id);
  ASSERT_TRUE(data);
  auto got = data->read_exact(before.size(), std::chrono::seconds(2));
  ASSERT_TRUE(got);
  EXPECT_EQ(as_text(*got), before);
  data->send_raw(as_bytes("and back"));
  auto back = peer.read_exact(8, std::chrono::seconds(2));
  ASSERT_TRUE(back);
  EXPECT_EQ(as_text(*back), "and back");

  // A second peer on the same allocation gets its own connection.
  TcpTurn second(relayed.port);
  auto attempt2 = a.control.read_frame(std::chrono::seconds(2));
  ASSERT_TRUE(attempt2);
  const std::uint32_t id2 = connection_id_of(*attempt2);
  EXPECT_NE(id2, id);
  auto data2 = a.bind(id2);
  ASSERT_TRUE(data2);
  second.send_raw(as_bytes("two"));
  auto two = data2->read_exact(3, std::chrono::seconds(2));
  ASSERT_TRUE(two);
  EXPECT_EQ(as_text(*two), "two");

  // The client hangs up its data connection: the peer connection follows; the allocation and
  // the other connection stay.
  data.reset();
  EXPECT_TRUE(peer.closed_by_peer(std::chrono::seconds(2)));
  second.send_raw(as_bytes("still"));
  auto still = data2->read_exact(5, std::chrono::seconds(2));
  ASSERT_TRUE(still);
  EXPECT_EQ(as_text(*still), "still");
  EXPECT_EQ(a.control.request(stun::Method::refresh, {}), 0);
  // Closing the control connection ends the allocation and every connection it had.
  ::shutdown(a.control.fd(), SHUT_RDWR);
  EXPECT_TRUE(data2->closed_by_peer(std::chrono::seconds(2)));
  EXPECT_TRUE(second.closed_by_peer(std::chrono::seconds(2)));
  // The listener closes in the same step, though not necessarily before the peers see their
  // connections end.
  bool still_listening = true;
  for (int i = 0; i < 40 && still_listening; ++i) {
    try {
      TcpTurn late(relayed.port);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    } catch (const std::runtime_error&) {
      still_listening = false;
    }
  }
  EXPECT_FALSE(still_listening) << "the relayed address still listens 2 s after the allocation ended";
}

// Two relay processes of one user (a second instance, or a restart overlapping the old one)
// with the same relay range: Linux lets sockets of one user that set SO_REUSEPORT share a
// port and splits incoming connections among their listeners. A relayed TCP port must belong
// to one allocation only, so that a peer's connection to it reaches that allocation's client.
TEST(TcpRelay, TwoRelaysOfOneUserNeverShareARelayedPort) {
  Relay first({"--relay-ports", "65200-65200", "--threads", "1"});
  Relay second({"--relay-ports", "65200-65200", "--threads", "1"});
  TcpAllocation a(first);
  ASSERT_TRUE(a.allocate());
  EXPECT_EQ(a.control.relayed().port, 65200);
  TcpAllocation b(second);
  EXPECT_FALSE(b.allocate()) << "the second relay got the port the first one listens on";
  ASSERT_TRUE(a.control.create_permission(*Endpoint::parse("127.0.0.1:1")));
  std::vector<std::unique_ptr<TcpTurn>> peers;
  for (int i = 0; i < 8; ++i) {
    peers.push_back(std::make_unique<TcpTurn>(a.control.relayed().port));
    auto attempt = a.control.read_frame(std::chrono::seconds(2));
    ASSERT_TRUE(attempt) << "peer connection " << i << " did not reach the allocation";
    auto m = stun::MessageView::parse(*attempt);
    ASSERT_TRUE(m);
    EXPECT_EQ(m->method(), stun::Method::connection_attempt);
  }
  // The allocation can still connect out from its relayed address (RFC 6062 §5.2).
  PeerListener listener;
  ASSERT_TRUE(a.control.create_permission(listener.local()));
  ASSERT_EQ(a.control.request(stun::Method::connect, peer_attr(listener.local())), 0);
  auto out = listener.accept(std::chrono::seconds(2));
  ASSERT_TRUE(out);
  EXPECT_EQ(out->remote(), a.control.relayed());
}

TEST(TcpRelay, MisusedRequestsAreRefusedAndOthersUnaffected) {
  Relay relay;
  LiveCall call(relay);
  ASSERT_TRUE(call.works());
  const auto user = relay.credential_username();
  const auto password = auth::rest_password(relay.secret, user);
  auto tcp_transport = [](stun::MessageBuilder& b) { b.add_u32(stun::attr::requested_transport, 6u << 24); };

  // §5.1: a TCP allocation over UDP, or with UDP-only attributes, is a bad request.
  TurnClient udp(relay.endpoint(), user, password);
  udp.transact(stun::Method::allocate, tcp_transport);
  EXPECT_EQ(udp.last_error(), 400);
  TcpTurn even(relay.port);
  ASSERT_TRUE(even.allocate(user, password));  // a UDP allocation over TCP, for the nonce
  TcpTurn with_even_port(relay.port);
  with_even_port.use_credentials(even.credentials());
  EXPECT_EQ(with_even_port.request(stun::Method::allocate, [&](stun::MessageBuilder& b) {
    tcp_transport(b);
    b.add(stun::attr::even_port, as_bytes(std::string_view("\x80", 1)));
  }), 400);
  // §5.2: Connect on a UDP allocation.
  PeerListener listener;
  ASSERT_TRUE(even.create_permission(listener.local()));
  EXPECT_EQ(even.request(stun::Method::connect, peer_attr(listener.local())), 400);

  TcpAllocation a(relay);
  ASSERT_TRUE(a.allocate());
  // Peers the policy refuses, even with a permission request that is itself refused.
  const Endpoint denied = *Endpoint::parse("10.1.2.3:5000");
  EXPECT_EQ(a.control.request(stun::Method::create_permission, peer_attr(denied)), 403);
  EXPECT_EQ(a.control.request(stun::Method::connect, peer_attr(denied)), 403);
  // Nobody listening: 447.
  const Endpoint closed = *Endpoint::parse("127.0.0.1:" + std::to_string(free_tcp_port()));
  ASSERT_TRUE(a.control.create_permission(closed));
  EXPECT_EQ(a.control.request(stun::Method::connect, peer_attr(closed)), 447);
  // A failed connection is forgotten: the same peer may be tried again.
  EXPECT_EQ(a.control.request(stun::Method::connect, peer_attr(closed)), 447);
  // No channels on a TCP allocation; ConnectionBind without an id.
  EXPECT_EQ(a.control.request(stun::Method::channel_bind, [&](stun::MessageBuilder& b) {
    b.add_u32(stun::attr::channel_number, 0x40010000u);
    b.add_xor_address(stun::attr::xor_peer_address, listener.local());
  }), 400);
  TcpTurn no_id(relay.port);
  no_id.use_credentials(a.control.credentials());
  EXPECT_EQ(no_id.request(stun::Method::connection_bind, {}), 400);
  // Another user cannot bind this allocation's connection.
  ASSERT_TRUE(a.control.create_permission(listener.local()));
  std::vector<std::byte> answer;
  ASSERT_EQ(a.control.request(stun::Method::connect, peer_attr(listener.local()), &answer), 0);
  const auto id = connection_id_of(answer);
  TcpAllocation other(relay);
  other.user = relay.credential_username(300);
  ASSERT_TRUE(other.allocate());
  int error = 0;
  EXPECT_FALSE(other.bind(id, &error));
  EXPECT_EQ(error, 400);
  EXPECT_TRUE(a.bind(id));

  EXPECT_TRUE(call.works());
  EXPECT_TRUE(relay.process().running());
}

TEST(TcpRelay, AClientThatStopsReadingHoldsBackThePeerNotTheRelaysMemory) {
  Relay relay;
  TcpAllocation a(relay);
  ASSERT_TRUE(a.allocate());
  ASSERT_TRUE(a.control.create_permission(*Endpoint::parse("127.0.0.1:1")));
  TcpTurn peer(a.control.relayed().port);
  auto attempt = a.control.read_frame(std::chrono::seconds(2));
  ASSERT_TRUE(attempt);
  auto data = a.bind(connection_id_of(*attempt));
  ASSERT_TRUE(data);
  const long rss_before = relay.process().rss_kib();
  // The peer writes as fast as the relay takes it; the client reads nothing. TCP flow control
  // must reach the peer: it gets stuck far short of 64 MiB, and the relay holds little.
  const std::vector<std::byte> chunk = media_bytes(64 * 1024, 3);
  std::size_t pushed = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (pushed < 64u * 1024 * 1024 && std::chrono::steady_clock::now() < deadline) {
    pollfd p{peer.fd(), POLLOUT, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    const std::size_t off = pushed % chunk.size();  // the stream is `chunk` over and over
    const ssize_t n = ::send(peer.fd(), chunk.data() + off, chunk.size() - off, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) pushed += static_cast<std::size_t>(n);
  }
  EXPECT_LT(pushed, 16u * 1024 * 1024) << "the relay kept reading from the peer";
  const long rss_after = relay.process().rss_kib();
  EXPECT_LT(rss_after - rss_before, 4 * 1024) << rss_before << " -> " << rss_after << " KiB";
  // Nothing was dropped: once the client reads, every byte arrives in order.
  std::vector<std::byte> expected;
  while (expected.size() < pushed) expected.insert(expected.end(), chunk.begin(), chunk.end());
  expected.resize(pushed);
  std::vector<std::byte> got;
  while (got.size() < pushed) {
    auto part = data->read_exact(std::min<std::size_t>(65536, pushed - got.size()), std::chrono::seconds(2));
    if (!part) break;
    got.insert(got.end(), part->begin(), part->end());
  }
  ASSERT_EQ(got.size(), pushed);
  EXPECT_TRUE(got == expected);
  EXPECT_TRUE(relay.process().running());
}

TEST(TcpRelay, Ipv6WorksLikeIpv4) {
  Relay relay({}, "::1");
  PeerListener listener(true);
  TcpAllocation a(relay, true);
  ASSERT_TRUE(a.allocate());
  EXPECT_EQ(a.control.relayed().ip.to_string(), "::1");
  ASSERT_TRUE(a.control.create_permission(listener.local()));
  std::vector<std::byte> answer;
  ASSERT_EQ(a.control.request(stun::Method::connect, peer_attr(listener.local()), &answer), 0);
  auto peer = listener.accept(std::chrono::seconds(2));
  ASSERT_TRUE(peer);
  EXPECT_EQ(peer->remote(), a.control.relayed());
  auto data = a.bind(connection_id_of(answer));
  ASSERT_TRUE(data);
  data->send_raw(as_bytes("over six"));
  auto got = peer->read_exact(8, std::chrono::seconds(2));
  ASSERT_TRUE(got);
  EXPECT_EQ(as_text(*got), "over six");
  // An IPv4 peer on an IPv6 allocation: 443, as for UDP.
  EXPECT_EQ(a.control.request(stun::Method::connect, peer_attr(*Endpoint::parse("127.0.0.1:9"))), 443);
}

TEST(TcpRelay, EverythingSentRightAfterTheConnectionBindReachesThePeer) {
  Relay relay;
  PeerListener listener;
  TcpAllocation a(relay);
  ASSERT_TRUE(a.allocate());
  ASSERT_TRUE(a.control.create_permission(listener.local()));
  std::vector<std::byte> answer;
  ASSERT_EQ(a.control.request(stun::Method::connect, peer_attr(listener.local()), &answer), 0);
  auto peer = listener.accept(std::chrono::seconds(2));
  ASSERT_TRUE(peer);
  TcpTurn data(relay.port);
  // One write: a large Binding request (which grows the connection's buffer past 16 KiB),
  // the ConnectionBind, and 48 KiB of data.
  auto burst = build(stun::Method::binding, stun::Class::request, random_tid(), [](stun::MessageBuilder& b) {
    b.add(0x8123, std::vector<std::byte>(40000, std::byte{1}));  // comprehension-optional, ignored
  });
  const auto bind = build(stun::Method::connection_bind, stun::Class::request, random_tid(),
                          id_attr(connection_id_of(answer)), &a.control.credentials());
  const auto bytes = media_bytes(48 * 1024, 4);
  burst.insert(burst.end(), bind.begin(), bind.end());
  burst.insert(burst.end(), bytes.begin(), bytes.end());
  data.send_raw(burst);
  ASSERT_TRUE(data.read_frame());  // the Binding answer
  auto bound = data.read_frame();
  ASSERT_TRUE(bound);
  ASSERT_FALSE(stun::MessageView::parse(*bound)->has(stun::attr::error_code));
  auto got = peer->read_exact(bytes.size(), std::chrono::seconds(3));
  ASSERT_TRUE(got) << "bytes after the ConnectionBind were lost";
  EXPECT_TRUE(*got == bytes);
}
