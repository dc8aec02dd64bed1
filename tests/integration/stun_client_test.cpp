// STUN Binding over real loopback sockets: coturn's turnutils_stunclient and our own socket.
#include <gtest/gtest.h>

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
