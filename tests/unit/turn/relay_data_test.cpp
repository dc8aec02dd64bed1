// RFC 8656 §10 and §12: Send/Data indications and ChannelData, both directions, payload untouched.
#include "../../support/turn_fixture.hpp"

using namespace hush;
using hush::test::TurnFixture;
namespace attr = stun::attr;

namespace {
std::vector<std::byte> send_indication(const char* peer, std::string_view payload) {
  return test::build(stun::Method::send, stun::Class::indication, test::random_tid(), [&](stun::MessageBuilder& b) {
    b.add_xor_address(attr::xor_peer_address, *Endpoint::parse(peer));
    b.add(attr::data, as_bytes(payload));
  });
}
// The bytes as copied when they were handed to the outbox (the datagram itself is gone by now).
std::string text(const test::Reply& r) { return std::string(reinterpret_cast<const char*>(r.bytes.data()), r.bytes.size()); }
}  // namespace

TEST_F(TurnFixture, SendIndicationNeedsAPermission) {
  auto handle = allocate();
  EXPECT_TRUE(deliver(send_indication("8.8.8.8:7000", "media")).empty());
  EXPECT_EQ(server->counters().dropped(turn::Drop::no_permission), 1u);
  request(stun::Method::create_permission, peer("8.8.8.8:1"));
  auto r = deliver(send_indication("8.8.8.8:7000", "media"));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].where.via, turn::Transmit::Via::relay);
  EXPECT_EQ(r[0].where.socket, handle);
  EXPECT_EQ(r[0].where.to.to_string(), "8.8.8.8:7000");
  EXPECT_EQ(text(r[0]), "media");
}

TEST_F(TurnFixture, PeerDataWithoutChannelBecomesADataIndication) {
  auto handle = allocate();
  EXPECT_TRUE(from_peer(handle, *Endpoint::parse("8.8.8.8:7000"), "nope").empty());  // no permission
  request(stun::Method::create_permission, peer("8.8.8.8:1"));
  auto r = from_peer(handle, *Endpoint::parse("8.8.8.8:7000"), "hello");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].where.to, client);
  auto m = r[0].msg();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->method(), stun::Method::data);
  EXPECT_EQ(m->message_class(), stun::Class::indication);
  EXPECT_EQ(stun::decode_xor_address(*m->find(attr::xor_peer_address), m->transaction_id_ptr())->to_string(),
            "8.8.8.8:7000");
  EXPECT_EQ(as_text(*m->find(attr::data)), "hello");
}

TEST_F(TurnFixture, ChannelDataFlowsBothWaysUnchanged) {
  auto handle = allocate();
  ASSERT_EQ(request(stun::Method::channel_bind, channel(0x4321, "8.8.8.8:7000")).error_code(), 0);
  // Client to peer: the header goes, the payload stays byte for byte (an SRTP-like packet).
  std::string srtp = "\x80\x60\x12\x34";
  srtp += std::string(160, '\xAB');
  auto r = deliver(test::channel_data(0x4321, srtp));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].where.socket, handle);
  EXPECT_EQ(text(r[0]), srtp);
  // Peer to client: a 4-byte ChannelData header in front, written in place.
  r = from_peer(handle, *Endpoint::parse("8.8.8.8:7000"), srtp);
  ASSERT_EQ(r.size(), 1u);
  auto cd = stun::parse_channel_data(r[0].bytes);
  ASSERT_TRUE(cd);
  EXPECT_EQ(cd->channel, 0x4321);
  EXPECT_EQ(as_text(cd->payload), srtp);
  EXPECT_EQ(r[0].bytes.size(), srtp.size() + 4);
  // Same peer IP, other port: no channel, so a Data indication.
  r = from_peer(handle, *Endpoint::parse("8.8.8.8:7001"), "x");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_TRUE(r[0].msg());
}

TEST_F(TurnFixture, ChannelDataOnUnboundChannelOrUnknownClientIsDropped) {
  allocate();
  EXPECT_TRUE(deliver(test::channel_data(0x4001, "x")).empty());
  EXPECT_EQ(server->counters().dropped(turn::Drop::unbound_channel), 1u);
  EXPECT_TRUE(deliver(test::channel_data(0x4001, "x"), *Endpoint::parse("192.0.2.99:1")).empty());
  EXPECT_EQ(server->counters().dropped(turn::Drop::no_allocation), 1u);
}

TEST_F(TurnFixture, ChannelStopsWhenItsPermissionExpires) {
  allocate();
  request(stun::Method::refresh, [](auto& b) { b.add_u32(attr::lifetime, 3600); });
  ASSERT_EQ(request(stun::Method::channel_bind, channel(0x4001, "8.8.8.8:7000")).error_code(), 0);
  advance(std::chrono::seconds(301));
  EXPECT_TRUE(deliver(test::channel_data(0x4001, "x")).empty());
  request(stun::Method::create_permission, peer("8.8.8.8:1"));
  EXPECT_EQ(deliver(test::channel_data(0x4001, "x")).size(), 1u);
}

// Channels and permissions live inside the allocation up to two of each, on the heap past
// that: four peers, then three of them expire and the fourth, back inline, still relays.
TEST_F(TurnFixture, FourChannelsRelayAndExpireAcrossTheInlineStorage) {
  auto handle = allocate();
  request(stun::Method::refresh, [](auto& b) { b.add_u32(attr::lifetime, 3600); });
  const char* peers[] = {"8.8.8.1:7000", "8.8.8.2:7000", "8.8.8.3:7000", "8.8.8.4:7000"};
  for (std::uint16_t i = 0; i < 4; ++i)
    ASSERT_EQ(request(stun::Method::channel_bind, channel(0x4001 + i, peers[i])).error_code(), 0);
  auto relays = [&](std::uint16_t i) {
    const std::string payload = "to peer " + std::to_string(i);
    auto up = deliver(test::channel_data(0x4001 + i, payload));
    auto down = from_peer(handle, *Endpoint::parse(peers[i]), "from peer");
    if (up.size() != 1 || down.size() != 1) return false;
    auto cd = stun::parse_channel_data(down[0].bytes);
    return up[0].where.to.to_string() == peers[i] && text(up[0]) == payload && cd && cd->channel == 0x4001 + i &&
           as_text(cd->payload) == "from peer";
  };
  for (std::uint16_t i = 0; i < 4; ++i) EXPECT_TRUE(relays(i)) << peers[i];
  EXPECT_EQ(server->find(turn::FiveTuple{0, client})->channels.size(), 4u);
  advance(std::chrono::seconds(200));
  ASSERT_EQ(request(stun::Method::channel_bind, channel(0x4004, peers[3])).error_code(), 0);  // refreshes both
  advance(std::chrono::seconds(150));  // the other three permissions are gone, their channels not yet
  for (std::uint16_t i = 0; i < 3; ++i) EXPECT_FALSE(relays(i)) << peers[i];
  EXPECT_TRUE(relays(3));
  ASSERT_EQ(request(stun::Method::channel_bind, channel(0x4004, peers[3])).error_code(), 0);
  advance(std::chrono::seconds(260));  // 610 s: now their channels are gone too
  EXPECT_EQ(server->find(turn::FiveTuple{0, client})->channels.size(), 1u);
  EXPECT_EQ(server->find(turn::FiveTuple{0, client})->permissions.size(), 1u);
  EXPECT_TRUE(relays(3));
  for (std::uint16_t i = 0; i < 3; ++i) EXPECT_FALSE(relays(i)) << peers[i];
}

// RFC 8656 §11.5: an ICMP error about a datagram sent to a permitted peer reaches the client as
// a Data indication with XOR-PEER-ADDRESS and ICMP, and no DATA.
TEST_F(TurnFixture, IcmpErrorFromAPermittedPeerBecomesADataIndicationWithoutData) {
  auto handle = allocate();
  const auto dead = *Endpoint::parse("8.8.8.8:7000");
  EXPECT_TRUE(icmp(handle, {dead, false, 3, 3, 0}).empty());  // no permission for 8.8.8.8
  EXPECT_EQ(server->counters().dropped(turn::Drop::no_permission), 1u);
  request(stun::Method::create_permission, peer("8.8.8.8:1"));
  auto r = icmp(handle, {dead, false, 3, 3, 1234});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].where.via, turn::Transmit::Via::listener);
  EXPECT_EQ(r[0].where.to, client);
  auto m = r[0].msg();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->method(), stun::Method::data);
  EXPECT_EQ(m->message_class(), stun::Class::indication);
  EXPECT_EQ(stun::decode_xor_address(*m->find(attr::xor_peer_address), m->transaction_id_ptr()), dead);
  EXPECT_FALSE(m->find(attr::data));
  auto i = stun::decode_icmp(*m->find(attr::icmp));
  ASSERT_TRUE(i);
  EXPECT_EQ(i->type, 3);
  EXPECT_EQ(i->code, 3);
  EXPECT_EQ(i->error_data, 0u);  // only a "too big" error carries its MTU
  EXPECT_EQ(server->counters().icmp_indications, 1u);

  // Fragmentation needed (IPv4 3/4) and packet too big (IPv6 2) carry the MTU.
  i = stun::decode_icmp(*icmp(handle, {dead, false, 3, 4, 1400})[0].msg()->find(attr::icmp));
  EXPECT_EQ(i->error_data, 1400u);
  EXPECT_EQ(i->code, 4);
  // Time exceeded (IPv4 11) is passed on; redirects, echo replies and the rest are not.
  EXPECT_EQ(icmp(handle, {dead, false, 11, 0, 0}).size(), 1u);
  for (std::uint8_t type : {0, 4, 5, 8, 12}) EXPECT_TRUE(icmp(handle, {dead, false, type, 0, 0}).empty()) << +type;
  EXPECT_EQ(server->counters().icmp_indications, 3u);
  // Another relayed socket, or one whose allocation is gone: nothing.
  EXPECT_TRUE(icmp(handle + 1000, {dead, false, 3, 3, 0}).empty());
}

TEST_F(TurnFixture, Icmpv6ErrorsArePassedOnByTheirOwnTypes) {
  options.relay_v6 = true;
  start();
  auto r0 = request(stun::Method::allocate, [](auto& b) {
    test::udp_transport()(b);
    b.add_u32(attr::requested_address_family, 0x02u << 24);
  });
  ASSERT_EQ(r0.error_code(), 0);
  const auto* a = server->find(turn::FiveTuple{listener, client});
  ASSERT_TRUE(a && a->relay_v6);
  const auto handle = a->relay_v6->handle;
  const auto dead = *Endpoint::parse("[2a00:1450::7]:7000");
  ASSERT_EQ(request(stun::Method::create_permission, peer("[2a00:1450::7]:1")).error_code(), 0);
  for (std::uint8_t type : {1, 2, 3}) {
    auto r = icmp(handle, {dead, true, type, 4, 1280});
    ASSERT_EQ(r.size(), 1u) << +type;
    auto m = r[0].msg();
    EXPECT_EQ(stun::decode_xor_address(*m->find(attr::xor_peer_address), m->transaction_id_ptr()), dead);
    auto i = stun::decode_icmp(*m->find(attr::icmp));
    EXPECT_EQ(i->type, type);
    EXPECT_EQ(i->error_data, type == 2 ? 1280u : 0u);
  }
  // ICMPv6 4 (parameter problem) and the informational types (128 and up) are not.
  for (std::uint8_t type : {4, 128, 129, 135}) EXPECT_TRUE(icmp(handle, {dead, true, type, 0, 0}).empty()) << +type;
}

TEST_F(TurnFixture, HostPeersAreCheckedOnEverySendIndication) {
  start(0, {"198.51.100.0/24"});
  allocate();
  // The relay's own address is allowed by --allow-peer for this port...
  ASSERT_EQ(request(stun::Method::create_permission, peer("198.51.100.7:7000")).error_code(), 0);
  EXPECT_EQ(deliver(send_indication("198.51.100.7:7000", "ok")).size(), 1u);
  // ...but the permission covers the IP only: its listening port stays out of reach.
  EXPECT_TRUE(deliver(send_indication("198.51.100.7:3478", "attack")).empty());
  EXPECT_EQ(server->counters().dropped(turn::Drop::peer_denied), 1u);
}

TEST_F(TurnFixture, MalformedAndHostileDatagramsAreDroppedWithoutHarm) {
  auto handle = allocate();
  request(stun::Method::channel_bind, channel(0x4001, "8.8.8.8:7000"));
  std::vector<std::vector<std::byte>> junk;
  junk.push_back({});
  junk.push_back(std::vector<std::byte>(3, std::byte{0}));
  junk.push_back(std::vector<std::byte>(65535, std::byte{0xFF}));
  auto lying = test::channel_data(0x4001, "abc");
  store_u16(lying.data() + 2, 0xFFFF);
  junk.push_back(lying);
  auto truncated = test::build(stun::Method::allocate, stun::Class::request, test::random_tid(), test::udp_transport());
  truncated.resize(22);
  junk.push_back(truncated);
  auto response = test::build(stun::Method::allocate, stun::Class::success, test::random_tid(), {});
  junk.push_back(response);
  for (const auto& j : junk) EXPECT_TRUE(deliver(j).empty());
  // The allocation is unaffected.
  EXPECT_EQ(deliver(test::channel_data(0x4001, "still here")).size(), 1u);
  EXPECT_EQ(from_peer(handle, *Endpoint::parse("8.8.8.8:7000"), "back").size(), 1u);
}

TEST_F(TurnFixture, SmoothingReleasesOnTheAllocationsClockInOrderAtMostOneTickLate) {
  using std::chrono::milliseconds;
  options.smoothing = milliseconds(20);
  start();
  const auto created = now.mono;
  auto handle = allocate();
  ASSERT_EQ(request(stun::Method::channel_bind, channel(0x4001, "8.8.8.8:7000")).error_code(), 0);
  const auto peer_at = *Endpoint::parse("8.8.8.8:7000");
  auto release = [&] {
    out.clear();
    EXPECT_FALSE(server->release_due(now, out));
    return collect();
  };
  auto payload = [](const test::Reply& r) { return std::string(as_text(stun::parse_channel_data(r.bytes)->payload)); };

  // Three messages within the first tick: none leaves before the tick, all leave on it, in order.
  for (auto [at, what] : {std::pair{3, "a"}, {7, "b"}, {19, "c"}}) {
    now.mono = created + milliseconds(at);
    EXPECT_TRUE(from_peer(handle, peer_at, what).empty());
  }
  EXPECT_EQ(server->next_release(), created + milliseconds(20));
  now.mono = created + milliseconds(19);
  EXPECT_TRUE(release().empty());
  now.mono = created + milliseconds(20);
  auto r = release();
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(payload(r[0]), "a");
  EXPECT_EQ(payload(r[1]), "b");
  EXPECT_EQ(payload(r[2]), "c");
  EXPECT_EQ(r[0].where.to, client);
  EXPECT_FALSE(server->next_release());

  // The clock is the allocation's: a message just after a tick waits for the next one.
  now.mono = created + milliseconds(21);
  EXPECT_TRUE(from_peer(handle, peer_at, "d").empty());
  EXPECT_EQ(server->next_release(), created + milliseconds(40));
  now.mono = created + milliseconds(40);
  r = release();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(payload(r[0]), "d");

  // The queue is bounded: beyond 64 messages per tick, the rest are dropped and counted.
  now.mono = created + milliseconds(41);
  for (int i = 0; i < 70; ++i) from_peer(handle, peer_at, "flood");
  EXPECT_EQ(server->counters().dropped(turn::Drop::smoothing_queue), 6u);
  now.mono = created + milliseconds(60);
  EXPECT_EQ(release().size(), 64u);
  // A deleted allocation leaves nothing behind.
  now.mono = created + milliseconds(61);
  from_peer(handle, peer_at, "late");
  ASSERT_EQ(request(stun::Method::refresh, [](stun::MessageBuilder& b) { b.add_u32(attr::lifetime, 0); }).error_code(), 0);
  now.mono = created + milliseconds(80);
  EXPECT_TRUE(release().empty());
  EXPECT_FALSE(server->next_release());
}

// --smoothing 20ms --cover and a TLS client's allocation, created at `created`, with channel
// 0x4000 bound to 8.8.8.8:7000.
struct CoverFixture : test::TurnFixture {
  turn::TimePoint created;
  std::uint32_t handle = 0;
  void SetUp() override {
    options.smoothing = std::chrono::milliseconds(20);
    options.cover = true;
    start();
    created = now.mono;
    listener = turn::kTlsListenerBase;
    handle = allocate();
    ASSERT_EQ(request(stun::Method::channel_bind, channel(0x4000, "8.8.8.8:7000")).error_code(), 0);
  }
};

TEST_F(CoverFixture, CoverFillsTicksWithoutMediaOnTlsAllocationsOnly) {
  using std::chrono::milliseconds;
  listener = 0;
  const Endpoint udp_client = *Endpoint::parse("192.0.2.2:40000");
  allocate(udp_client);  // a UDP client of the same server: never any cover
  auto release = [&] {
    out.clear();
    EXPECT_FALSE(server->release_due(now, out));
    auto r = collect();
    for (const auto& x : r) EXPECT_EQ(x.where.socket, turn::kTlsListenerBase);
    return r;
  };

  // A silent tick: one cover ChannelData on a channel the client has not bound.
  now.mono = created + milliseconds(20);
  auto r = release();
  ASSERT_EQ(r.size(), 1u);
  auto cd = stun::parse_channel_data(r[0].bytes);
  ASSERT_TRUE(cd);
  EXPECT_NE(cd->channel, 0x4000);
  EXPECT_EQ(r[0].bytes.size(), 164u);
  EXPECT_EQ(server->counters().cover_bytes, 164u);
  // A tick with media carries the media only; the next silent one, cover of the media's size.
  now.mono = created + milliseconds(25);
  EXPECT_TRUE(from_peer(handle, *Endpoint::parse("8.8.8.8:7000"), std::string(100, 'm')).empty());
  now.mono = created + milliseconds(40);
  r = release();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(stun::parse_channel_data(r[0].bytes)->channel, 0x4000);
  // The third tick is a fourth one (counted from 0 at the creation): two records, here cover.
  now.mono = created + milliseconds(60);
  r = release();
  ASSERT_EQ(r.size(), 2u);
  for (const auto& x : r) {
    EXPECT_NE(stun::parse_channel_data(x.bytes)->channel, 0x4000);
    EXPECT_EQ(x.bytes.size(), 104u);
  }
  // Ticks the worker missed are skipped, not sent in a burst.
  now.mono = created + milliseconds(145);
  EXPECT_EQ(release().size(), 1u);
  EXPECT_EQ(server->next_release(), created + milliseconds(160));
}

// With cover, what leaves at a tick never depends on what arrived: one record, two at every
// fourth tick, media first (oldest first) and cover for the rest. Two messages in one tick
// leave at two ticks, and a backlog drains through the fourth ticks' second records.
TEST_F(CoverFixture, CoverSendsAFixedPatternWhateverArrives) {
  using std::chrono::milliseconds;
  const auto peer_at = *Endpoint::parse("8.8.8.8:7000");
  // What each tick sends: the payload of media, "-" for cover.
  auto tick = [&](int ms) {
    now.mono = created + milliseconds(ms);
    out.clear();
    EXPECT_FALSE(server->release_due(now, out));
    std::vector<std::string> sent;
    for (const auto& x : collect()) {
      auto cd = stun::parse_channel_data(x.bytes);
      sent.push_back(cd->channel == 0x4000 ? std::string(as_text(cd->payload)) : "-");
    }
    return sent;
  };
  using V = std::vector<std::string>;
  for (auto [at, what] : {std::pair{5, "a"}, {15, "b"}}) {
    now.mono = created + milliseconds(at);
    from_peer(handle, peer_at, what);
  }
  EXPECT_EQ(tick(20), (V{"a"}));
  EXPECT_EQ(tick(40), (V{"b"}));
  EXPECT_EQ(tick(60), (V{"-", "-"}));
  for (auto [at, what] : {std::pair{61, "c"}, {62, "d"}, {63, "e"}, {64, "f"}}) {
    now.mono = created + milliseconds(at);
    from_peer(handle, peer_at, what);
  }
  EXPECT_EQ(tick(80), (V{"c"}));
  EXPECT_EQ(tick(100), (V{"d"}));
  EXPECT_EQ(tick(120), (V{"e"}));
  EXPECT_EQ(tick(140), (V{"f", "-"}));
  EXPECT_EQ(tick(160), (V{"-"}));
  EXPECT_EQ(server->counters().dropped(turn::Drop::smoothing_queue), 0u);
}

// RFC 8656 §9: a permission is for an address, whatever its port. On the relay's own relayed
// address the port is decided per datagram: a live relayed port, nothing else.
TEST_F(TurnFixture, CreatePermissionIgnoresThePortAndTheDataPathDecidesIt) {
  allocate();
  auto bob = *Endpoint::parse("192.0.2.2:5000");
  allocate(bob);
  const Endpoint bob_relayed = server->find(turn::FiveTuple{0, bob})->relay_v4->local;
  for (const char* p : {"198.51.100.7:0", "198.51.100.7:3478", "198.51.100.7:49999"})
    EXPECT_EQ(request(stun::Method::create_permission, peer(p)).error_code(), 0) << p;
  EXPECT_EQ(deliver(send_indication(bob_relayed.to_string().c_str(), "hello bob")).size(), 1u);
  EXPECT_TRUE(deliver(send_indication("198.51.100.7:49999", "no one")).empty());
  EXPECT_TRUE(deliver(send_indication("198.51.100.7:3478", "listener")).empty());
  EXPECT_TRUE(deliver(send_indication("198.51.100.7:0", "nowhere")).empty());
  EXPECT_EQ(server->counters().dropped(turn::Drop::peer_denied), 3u);
  // Nor is port 0 of an ordinary peer a destination, whatever its permission.
  ASSERT_EQ(request(stun::Method::create_permission, peer("8.8.8.8:0")).error_code(), 0);
  EXPECT_TRUE(deliver(send_indication("8.8.8.8:0", "nowhere")).empty());
  EXPECT_EQ(deliver(send_indication("8.8.8.8:53", "somewhere")).size(), 1u);
  EXPECT_EQ(request(stun::Method::channel_bind, channel(0x4005, "8.8.8.8:0")).error_code(), 403);
  // Nor does a permission for an address reopen what the address itself is refused for.
  for (const char* p : {"127.0.0.1:0", "0.0.0.0:0", "10.0.0.1:0", "169.254.169.254:0"})
    EXPECT_EQ(request(stun::Method::create_permission, peer(p)).error_code(), 403) << p;
}

// With --external-ip, a client knows another user's relayed address as the external one. The
// relay sends to the bound address (no hairpin through the NAT) and reports the external one.
TEST_F(TurnFixture, AnExternalRelayedAddressIsMappedBackToTheBoundOne) {
  options.external_ip_v4 = *IpAddress::parse("192.0.2.99");
  start();
  allocate();
  auto bob = *Endpoint::parse("192.0.2.2:5000");
  allocate(bob);
  const Endpoint bob_bound = server->find(turn::FiveTuple{0, bob})->relay_v4->local;
  const Endpoint bob_external{*IpAddress::parse("192.0.2.99"), bob_bound.port};
  ASSERT_EQ(request(stun::Method::create_permission, peer(bob_external.to_string().c_str())).error_code(), 0);
  auto sent = deliver(send_indication(bob_external.to_string().c_str(), "hi"));
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].where.to, bob_bound);
  // An answer from bob's relayed socket reaches this client as coming from the external address.
  const auto handle = server->find(turn::FiveTuple{0, client})->relay_v4->handle;
  auto back = from_peer(handle, bob_bound, "hello");
  ASSERT_EQ(back.size(), 1u);
  auto m = back[0].msg();
  ASSERT_TRUE(m);
  EXPECT_EQ(stun::decode_xor_address(*m->find(attr::xor_peer_address), m->transaction_id_ptr()), bob_external);
}
