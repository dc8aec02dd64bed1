// RFC 5780 NAT behaviour discovery: Binding requests on the four listeners of
// --other-address get RESPONSE-ORIGIN, OTHER-ADDRESS and (room permitting) MAPPED-ADDRESS,
// and are answered from the listener CHANGE-REQUEST asks for; anywhere else CHANGE-REQUEST
// is an unknown comprehension-required attribute (420).
#include "../../support/turn_fixture.hpp"

using namespace hush;
using hush::test::TurnFixture;
namespace attr = stun::attr;

namespace {

// A plain (not XORed) address attribute: RESPONSE-ORIGIN, OTHER-ADDRESS, MAPPED-ADDRESS.
Endpoint plain_address(Bytes v) {
  const std::uint16_t port = load_u16(v.data() + 2);
  if (v[1] == std::byte{stun::kFamilyIpv4}) return Endpoint{IpAddress::v4_bytes(reinterpret_cast<const std::uint8_t*>(v.data() + 4)), port};
  return Endpoint{IpAddress::v6_bytes(reinterpret_cast<const std::uint8_t*>(v.data() + 4)), port};
}

const Endpoint kA1P1 = *Endpoint::parse("203.0.113.1:3478");
const Endpoint kA1P2 = *Endpoint::parse("203.0.113.1:3479");
const Endpoint kA2P1 = *Endpoint::parse("203.0.113.2:3478");
const Endpoint kA2P2 = *Endpoint::parse("203.0.113.2:3479");

class NatDiscovery : public TurnFixture {
 protected:
  void SetUp() override {
    // Listener 0 is a plain one; the four are 1 (A1:P1), 2 (A1:P2), 3 (A2:P1), 4 (A2:P2).
    turn::ServerOptions::NatListener a1p1{1, kA1P1}, a1p2{2, kA1P2}, a2p1{3, kA2P1}, a2p2{4, kA2P2};
    options.nat_listeners = std::array<std::array<turn::ServerOptions::NatListener, 2>, 2>{
        std::array<turn::ServerOptions::NatListener, 2>{a1p1, a1p2},
        std::array<turn::ServerOptions::NatListener, 2>{a2p1, a2p2}};
    start();
  }
  // A Binding request on `on` with CHANGE-REQUEST `flags` (none if negative).
  std::vector<test::Reply> binding(std::uint16_t on, int flags) {
    listener = on;
    auto req = test::build(stun::Method::binding, stun::Class::request, test::random_tid(), [&](auto& b) {
      if (flags >= 0) b.add_u32(attr::change_request, static_cast<std::uint32_t>(flags));
    });
    request_size = req.size();
    return deliver(req);
  }
  std::size_t request_size = 0;
};

}  // namespace

TEST_F(NatDiscovery, ChangeRequestIsAnsweredFromTheListenerItAsksFor) {
  struct Case {
    int flags;
    std::uint16_t from_index;
    Endpoint from;
  } cases[] = {{0, 1, kA1P1}, {0x2, 2, kA1P2}, {0x4, 3, kA2P1}, {0x6, 4, kA2P2}};
  for (const auto& c : cases) {
    auto r = binding(1, c.flags);
    ASSERT_EQ(r.size(), 1u) << c.flags;
    EXPECT_EQ(r[0].where.via, turn::Transmit::Via::listener);
    EXPECT_EQ(r[0].where.socket, c.from_index) << c.flags;
    EXPECT_EQ(r[0].where.to, client);
    auto m = r[0].msg();
    ASSERT_TRUE(m);
    EXPECT_EQ(m->message_class(), stun::Class::success);
    EXPECT_EQ(stun::decode_xor_address(*m->find(attr::xor_mapped_address), m->transaction_id_ptr()), client);
    EXPECT_EQ(plain_address(*m->find(attr::response_origin)), c.from) << c.flags;
    EXPECT_EQ(plain_address(*m->find(attr::other_address)), kA2P2);  // the other IP and port of where it arrived
    ASSERT_TRUE(m->has(attr::mapped_address));  // 28 bytes of request leave room for it
    EXPECT_EQ(plain_address(*m->find(attr::mapped_address)), client);
    EXPECT_LE(r[0].bytes.size(), 3 * request_size);
  }
  // From the other corner, OTHER-ADDRESS is the first one, and "change both" comes back there.
  auto r = binding(4, 0x6);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].where.socket, 1);
  EXPECT_EQ(plain_address(*r[0].msg()->find(attr::other_address)), kA1P1);
  EXPECT_EQ(plain_address(*r[0].msg()->find(attr::response_origin)), kA1P1);
}

TEST_F(NatDiscovery, ABareRequestGetsOriginAndOtherAddressWithinThreeTimesItsSize) {
  auto r = binding(2, -1);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].where.socket, 2);
  auto m = r[0].msg();
  EXPECT_EQ(plain_address(*m->find(attr::response_origin)), kA1P2);
  EXPECT_EQ(plain_address(*m->find(attr::other_address)), kA2P1);
  EXPECT_FALSE(m->has(attr::mapped_address));  // 68 bytes would exceed 3 x 20
  EXPECT_LE(r[0].bytes.size(), 3 * request_size);
}

TEST_F(NatDiscovery, ChangeRequestElsewhereGets420AndAMalformedOne400) {
  auto r = binding(0, 0x6);  // not one of the four
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].error_code(), 420);
  EXPECT_EQ(load_u16(r[0].msg()->find(attr::unknown_attributes)->data()), attr::change_request);
  EXPECT_EQ(r[0].where.socket, 0);
  EXPECT_FALSE(r[0].msg()->has(attr::other_address));

  listener = 1;
  auto bad = test::build(stun::Method::binding, stun::Class::request, test::random_tid(), [](auto& b) {
    const std::byte eight[8] = {};
    b.add(attr::change_request, eight);
  });
  auto r2 = deliver(bad);
  ASSERT_EQ(r2.size(), 1u);
  EXPECT_EQ(r2[0].error_code(), 400);
}

TEST_F(TurnFixture, WithoutOtherAddressChangeRequestGets420AndBindingStaysPlain) {
  auto req = test::build(stun::Method::binding, stun::Class::request, test::random_tid(),
                         [](auto& b) { b.add_u32(attr::change_request, 0x6); });
  auto r = deliver(req);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].error_code(), 420);
  auto plain = deliver(test::build(stun::Method::binding, stun::Class::request, test::random_tid(), {}));
  ASSERT_EQ(plain.size(), 1u);
  EXPECT_FALSE(plain[0].msg()->has(attr::response_origin));
  EXPECT_FALSE(plain[0].msg()->has(attr::other_address));
  EXPECT_FALSE(plain[0].msg()->has(attr::mapped_address));
}

namespace {

// An RFC 3489 Binding request (no magic cookie) with CHANGE-REQUEST `flags` (none if negative).
std::vector<std::byte> classic_binding(int flags) {
  std::vector<std::byte> req(flags >= 0 ? 28 : 20);
  store_u16(req.data(), 0x0001);
  store_u16(req.data() + 2, static_cast<std::uint16_t>(req.size() - 20));
  for (std::size_t i = 4; i < 20; ++i) req[i] = std::byte{static_cast<std::uint8_t>(0xA0 + i)};
  if (flags >= 0) {
    store_u16(req.data() + 20, attr::change_request);
    store_u16(req.data() + 22, 4);
    store_u32(req.data() + 24, static_cast<std::uint32_t>(flags));
  }
  return req;
}

// The value of attribute `type` in an RFC 3489 message (MessageView wants the cookie).
std::optional<Bytes> classic_find(const std::vector<std::byte>& m, std::uint16_t type) {
  for (std::size_t at = 20; at + 4 <= m.size();) {
    const std::size_t len = load_u16(m.data() + at + 2);
    if (load_u16(m.data() + at) == type) return Bytes{m.data() + at + 4, len};
    at += 4 + ((len + 3) & ~std::size_t{3});
  }
  return std::nullopt;
}

}  // namespace

TEST_F(NatDiscovery, Rfc3489ChangeRequestIsHonouredWithSourceAndChangedAddress) {
  listener = 1;
  const auto req = classic_binding(0x4);  // change IP
  auto r = deliver(req);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].where.socket, 3);  // A2:P1
  const auto& a = r[0].bytes;
  EXPECT_EQ(load_u16(a.data()), 0x0101);
  EXPECT_TRUE(std::equal(a.begin() + 4, a.begin() + 20, req.begin() + 4));  // its 16-byte id
  EXPECT_EQ(plain_address(*classic_find(a, attr::mapped_address)), client);
  EXPECT_EQ(plain_address(*classic_find(a, attr::source_address)), kA2P1);
  EXPECT_EQ(plain_address(*classic_find(a, attr::changed_address)), kA2P2);
  EXPECT_LE(a.size(), 3 * req.size());
  // A bare one from the other corner: still within three times its 20 bytes.
  listener = 4;
  auto bare = deliver(classic_binding(-1));
  ASSERT_EQ(bare.size(), 1u);
  EXPECT_EQ(bare[0].where.socket, 4);
  EXPECT_EQ(plain_address(*classic_find(bare[0].bytes, attr::changed_address)), kA1P1);
  EXPECT_LE(bare[0].bytes.size(), 60u);
}

TEST_F(TurnFixture, Rfc3489ChangeRequestWithoutOtherAddressGets420NotAnAnswerFromTheSameAddress) {
  auto r = deliver(classic_binding(0x6));
  ASSERT_EQ(r.size(), 1u);
  const auto& a = r[0].bytes;
  EXPECT_EQ(load_u16(a.data()), 0x0111);  // Binding error response
  auto e = classic_find(a, attr::error_code);
  ASSERT_TRUE(e);
  EXPECT_EQ(std::to_integer<int>((*e)[2]) * 100 + std::to_integer<int>((*e)[3]), 420);
  EXPECT_EQ(load_u16(classic_find(a, attr::unknown_attributes)->data()), attr::change_request);
  // No change asked (test I of RFC 3489's classifier): answered as ever.
  auto plain = deliver(classic_binding(0));
  ASSERT_EQ(plain.size(), 1u);
  EXPECT_EQ(load_u16(plain[0].bytes.data()), 0x0101);
  EXPECT_EQ(plain_address(*classic_find(plain[0].bytes, attr::mapped_address)), client);
  EXPECT_FALSE(classic_find(plain[0].bytes, attr::changed_address));
}
