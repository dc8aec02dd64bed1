// STUN Binding over real loopback sockets: coturn's turnutils_stunclient and our own socket.
#include <gtest/gtest.h>

#include "hush/auth/rest_credential.hpp"
#include "relay_process.hpp"

using namespace hush;
using namespace hush::test;

TEST(StunBinding, TurnutilsStunclientGetsItsMappedAddress) {
  Relay relay;
  auto r = run_command("timeout 20 turnutils_stunclient -p " + std::to_string(relay.port) + " 127.0.0.1");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("UDP reflexive addr: 127.0.0.1:"), std::string::npos) << r.output;
}

TEST(StunBinding, MappedAddressIsExactlyTheSourceAddress) {
  Relay relay;
  UdpSocket s;
  auto req = build(stun::Method::binding, stun::Class::request, random_tid(), {}, nullptr, true);
  s.send_to(relay.endpoint(), req);
  auto resp = s.receive(std::chrono::seconds(2));
  ASSERT_TRUE(resp);
  auto m = stun::MessageView::parse(*resp);
  ASSERT_TRUE(m.ok());
  EXPECT_TRUE(m->has_fingerprint());
  EXPECT_EQ(stun::decode_xor_address(*m->find(stun::attr::xor_mapped_address), m->transaction_id_ptr()), s.local());
}

TEST(StunBinding, Ipv6ListenerAnswersLikeIpv4) {
  Relay relay({}, "::1");
  UdpSocket s("::1");
  s.send_to(relay.endpoint(), build(stun::Method::binding, stun::Class::request, random_tid(), {}));
  auto resp = s.receive(std::chrono::seconds(2));
  ASSERT_TRUE(resp);
  auto m = stun::MessageView::parse(*resp);
  EXPECT_EQ(stun::decode_xor_address(*m->find(stun::attr::xor_mapped_address), m->transaction_id_ptr()), s.local());
}

TEST(DualStack, Ipv6AndDualAllocationsRelayOverRealSockets) {
  Relay relay({"--relay-ip", "127.0.0.1", "--relay-ip", "::1"});
  auto user = relay.credential_username();
  TurnClient client(relay.endpoint(), user, auth::rest_password(relay.secret, user));
  // An IPv6 relayed address for an IPv4 client (REQUESTED-ADDRESS-FAMILY).
  auto r = client.transact(stun::Method::allocate, [](stun::MessageBuilder& b) {
    udp_transport()(b);
    b.add_u32(stun::attr::requested_address_family, 0x02u << 24);
  });
  ASSERT_TRUE(r);
  ASSERT_EQ(client.last_error(), 0);
  auto relayed = stun::decode_xor_address(*r->find(stun::attr::xor_relayed_address), r->transaction_id_ptr());
  EXPECT_EQ(relayed->ip.to_string(), "::1");
  UdpSocket peer6("::1");
  ASSERT_TRUE(client.create_permission(peer6.local()));
  EXPECT_FALSE(client.create_permission(*Endpoint::parse("127.0.0.1:30000")));
  EXPECT_EQ(client.last_error(), 443);
  client.send_indication(peer6.local(), "over six");
  Endpoint from;
  auto got = peer6.receive(std::chrono::seconds(2), &from);
  ASSERT_TRUE(got);
  EXPECT_EQ(as_text(*got), "over six");
  EXPECT_EQ(from, *relayed);

  // A dual allocation from another client: both families, both relay.
  TurnClient dual(relay.endpoint(), user, auth::rest_password(relay.secret, user));
  auto d = dual.transact(stun::Method::allocate, [](stun::MessageBuilder& b) {
    udp_transport()(b);
    b.add_u32(stun::attr::additional_address_family, 0x02u << 24);
  });
  ASSERT_TRUE(d);
  ASSERT_EQ(dual.last_error(), 0);
  int families = 0;
  for (const auto& a : d->attributes()) families += a.type == stun::attr::xor_relayed_address;
  EXPECT_EQ(families, 2);
  UdpSocket peer4;
  ASSERT_TRUE(dual.create_permission(peer4.local()));
  ASSERT_TRUE(dual.create_permission(peer6.local()));
  dual.send_indication(peer4.local(), "v4");
  dual.send_indication(peer6.local(), "v6");
  EXPECT_TRUE(peer4.receive(std::chrono::seconds(2)));
  EXPECT_TRUE(peer6.receive(std::chrono::seconds(2)));
}
