// RFC 8656 §7: Allocate and Refresh, every error branch, lifetimes and expiry.
#include "../../support/turn_fixture.hpp"

using namespace hush;
using hush::test::TurnFixture;
namespace attr = stun::attr;

namespace {

// Allocate with EVEN-PORT and its R bit: an even port, and the next one reserved for a token.
void even_port_reserving_next(stun::MessageBuilder& b) {
  test::udp_transport()(b);
  const std::byte even[1] = {std::byte{0x80}};
  b.add(attr::even_port, even);
}

// Allocate redeeming a RESERVATION-TOKEN.
std::function<void(stun::MessageBuilder&)> with_token(const std::vector<std::byte>& token) {
  return [token](stun::MessageBuilder& b) {
    test::udp_transport()(b);
    b.add(attr::reservation_token, token);
  };
}

}  // namespace

TEST_F(TurnFixture, BindingAnswersTheMappedAddressWithinThreeTimesTheRequest) {
  auto req = test::build(stun::Method::binding, stun::Class::request, test::random_tid(), {});
  auto r = deliver(req);
  ASSERT_EQ(r.size(), 1u);
  auto m = r[0].msg();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->message_class(), stun::Class::success);
  EXPECT_EQ(stun::decode_xor_address(*m->find(attr::xor_mapped_address), m->transaction_id_ptr()), client);
  EXPECT_FALSE(m->has(attr::software));  // no server fingerprinting by default
  EXPECT_LE(r[0].bytes.size(), 3 * req.size());
}

TEST_F(TurnFixture, Rfc3489BindingWithoutMagicCookieGetsMappedAddressAndItsTransactionId) {
  // RFC 8489 §11.2: the classic request libnice's STUN usage sends.
  std::vector<std::byte> req(20);
  store_u16(req.data(), 0x0001);
  for (std::size_t i = 4; i < 20; ++i) req[i] = std::byte{static_cast<std::uint8_t>(0xA0 + i)};
  auto r = deliver(req);
  ASSERT_EQ(r.size(), 1u);
  const auto& a = r[0].bytes;
  ASSERT_EQ(a.size(), 32u);
  EXPECT_EQ(load_u16(a.data()), 0x0101);
  EXPECT_EQ(load_u16(a.data() + 2), 12);
  EXPECT_TRUE(std::equal(req.begin() + 4, req.end(), a.begin() + 4));  // the 16-byte id, cookie slot included
  EXPECT_EQ(load_u16(a.data() + 20), attr::mapped_address);
  EXPECT_EQ(stun::decode_plain_address(Bytes{a.data() + 24, 8}), client);
  // Other classic messages and broken lengths are dropped.
  store_u16(req.data(), 0x0003);
  EXPECT_TRUE(deliver(req).empty());
  store_u16(req.data(), 0x0001);
  req.push_back(std::byte{0});
  EXPECT_TRUE(deliver(req).empty());
}

TEST_F(TurnFixture, AllocateWithoutCredentialsIsChallengedWithRealmAndNonce) {
  auto req = test::build(stun::Method::allocate, stun::Class::request, test::random_tid(), test::udp_transport());
  auto r = deliver(req);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].error_code(), 401);
  auto m = r[0].msg();
  EXPECT_EQ(m->find_text(attr::realm), "hush");
  EXPECT_TRUE(m->find_text(attr::nonce));
  EXPECT_LE(r[0].bytes.size(), 3 * req.size());
  EXPECT_EQ(server->allocation_count(), 0u);
}

TEST_F(TurnFixture, AllocateSucceedsAndReportsRelayedAndMappedAddresses) {
  auto r = request(stun::Method::allocate, [](auto& b) {
    test::udp_transport()(b);
    b.add_u32(attr::lifetime, 1200);
  });
  ASSERT_EQ(r.error_code(), 0);
  auto m = r.msg();
  ASSERT_TRUE(m->verify_integrity(stun::long_term_key(username, realm, auth::rest_password(secret, username))));
  auto relayed = stun::decode_xor_address(*m->find(attr::xor_relayed_address), m->transaction_id_ptr());
  EXPECT_EQ(relayed->ip.to_string(), "198.51.100.7");
  EXPECT_EQ(m->find_u32(attr::lifetime), 1200u);
  EXPECT_EQ(stun::decode_xor_address(*m->find(attr::xor_mapped_address), m->transaction_id_ptr()), client);
  EXPECT_TRUE(live.is_live(Family::v4, relayed->port));
}

TEST_F(TurnFixture, LifetimeIsAtLeastTheDefaultAndAtMostTheMaximum) {
  auto short_one = request(stun::Method::allocate, [](auto& b) {
    test::udp_transport()(b);
    b.add_u32(attr::lifetime, 30);
  });
  EXPECT_EQ(short_one.msg()->find_u32(attr::lifetime), 600u);
  auto other = *Endpoint::parse("192.0.2.1:40001");
  auto long_one = request(stun::Method::allocate, [](auto& b) {
    test::udp_transport()(b);
    b.add_u32(attr::lifetime, 100000);
  }, other);
  EXPECT_EQ(long_one.msg()->find_u32(attr::lifetime), 3600u);
}

TEST_F(TurnFixture, RetransmittedAllocateGetsTheIdenticalAnswerAndNewOneGets437) {
  auto tid = test::random_tid();
  auto first = request(stun::Method::allocate, test::udp_transport(), client, true, tid);
  auto again = request(stun::Method::allocate, test::udp_transport(), client, true, tid);
  EXPECT_EQ(first.bytes, again.bytes);
  EXPECT_EQ(server->allocation_count(), 1u);
  EXPECT_EQ(request(stun::Method::allocate, test::udp_transport()).error_code(), 437);
}

TEST_F(TurnFixture, AllocateErrorsFollowTheRfc) {
  EXPECT_EQ(request(stun::Method::allocate, {}).error_code(), 400);  // no REQUESTED-TRANSPORT
  EXPECT_EQ(request(stun::Method::allocate, [](auto& b) { b.add_u32(attr::requested_transport, 6u << 24); }).error_code(),
            442);
  EXPECT_EQ(request(stun::Method::allocate, [](auto& b) {
              test::udp_transport()(b);
              b.add_u32(attr::requested_address_family, 0x03u << 24);
            }).error_code(),
            440);
  EXPECT_EQ(request(stun::Method::allocate, [](auto& b) {  // IPv6 not relayed by this server
              test::udp_transport()(b);
              b.add_u32(attr::requested_address_family, 0x02u << 24);
            }).error_code(),
            440);
  EXPECT_EQ(request(stun::Method::allocate, [](auto& b) {
              test::udp_transport()(b);
              b.add_u32(attr::requested_address_family, 0x01u << 24);
              b.add_u32(attr::additional_address_family, 0x02u << 24);
            }).error_code(),
            400);
  EXPECT_EQ(request(stun::Method::allocate, [](auto& b) {
              test::udp_transport()(b);
              b.add_u32(attr::additional_address_family, 0x01u << 24);
            }).error_code(),
            400);
  EXPECT_EQ(request(stun::Method::allocate, [](auto& b) {
              test::udp_transport()(b);
              const std::byte even[1] = {std::byte{0x80}};
              b.add(attr::even_port, even);
              b.add(attr::reservation_token, std::vector<std::byte>(8));
            }).error_code(),
            400);
  EXPECT_EQ(request(stun::Method::allocate, [](auto& b) {
              test::udp_transport()(b);
              b.add(attr::reservation_token, std::vector<std::byte>(8, std::byte{7}));
            }).error_code(),
            508);  // no such reservation
  EXPECT_EQ(server->allocation_count(), 0u);
}

TEST_F(TurnFixture, UnknownComprehensionRequiredAttributeGets420) {
  auto r = request(stun::Method::allocate, [](auto& b) {
    test::udp_transport()(b);
    b.add_u32(0x0031, 0);
  });
  EXPECT_EQ(r.error_code(), 420);
  auto u = *r.msg()->find(attr::unknown_attributes);
  EXPECT_EQ(load_u16(u.data()), 0x0031);
  // Comprehension-optional ones are ignored.
  EXPECT_EQ(request(stun::Method::allocate, [](auto& b) {
              test::udp_transport()(b);
              b.add_u32(0x8031, 0);
            }).error_code(),
            0);
}

TEST_F(TurnFixture, CredentialFailures) {
  auto bad = creds(client);
  bad.password = "wrong";
  auto req = test::build(stun::Method::allocate, stun::Class::request, test::random_tid(), test::udp_transport(), &bad);
  EXPECT_EQ(deliver(req)[0].error_code(), 401);
  auto stale = creds(client);
  stale.nonce = "AAAAAAAAAAAAAAAA";
  req = test::build(stun::Method::allocate, stun::Class::request, test::random_tid(), test::udp_transport(), &stale);
  auto r = deliver(req);
  EXPECT_EQ(r[0].error_code(), 438);
  EXPECT_TRUE(r[0].msg()->find_text(attr::nonce));
  username = "1699999999:expired";
  EXPECT_EQ(request(stun::Method::allocate, test::udp_transport()).error_code(), 401);
  EXPECT_EQ(server->allocation_count(), 0u);
}

TEST_F(TurnFixture, NonceGoesStaleAfterItsLifetime) {
  auto a = creds(client);
  now.unix += 601;
  auto req = test::build(stun::Method::allocate, stun::Class::request, test::random_tid(), test::udp_transport(), &a);
  EXPECT_EQ(deliver(req)[0].error_code(), 438);
}

TEST_F(TurnFixture, Sha256IntegrityIsAnsweredInKind) {
  auto a = creds(client);
  a.sha256 = true;
  auto req = test::build(stun::Method::allocate, stun::Class::request, test::random_tid(), test::udp_transport(), &a);
  auto r = deliver(req);
  ASSERT_EQ(r[0].error_code(), 0);
  EXPECT_TRUE(r[0].msg()->verify_integrity_sha256(stun::long_term_key(username, realm, a.password)));
  EXPECT_FALSE(r[0].msg()->has_integrity());
}

TEST_F(TurnFixture, RefreshExtendsAndZeroDeletes) {
  allocate();
  EXPECT_EQ(ports.open_sockets.size(), 1u);
  auto r = request(stun::Method::refresh, [](auto& b) { b.add_u32(attr::lifetime, 100000); });
  EXPECT_EQ(r.msg()->find_u32(attr::lifetime), 3600u);
  advance(std::chrono::seconds(3000));
  EXPECT_EQ(server->allocation_count(), 1u);
  r = request(stun::Method::refresh, [](auto& b) { b.add_u32(attr::lifetime, 0); });
  EXPECT_EQ(r.error_code(), 0);
  EXPECT_EQ(r.msg()->find_u32(attr::lifetime), 0u);
  EXPECT_EQ(server->allocation_count(), 0u);
  EXPECT_TRUE(ports.open_sockets.empty());
  EXPECT_EQ(request(stun::Method::refresh, {}).error_code(), 437);
}

TEST_F(TurnFixture, RefreshByAnotherUserGets441AndFamilyMismatch443) {
  allocate();
  username = "1700086400:someone-else";
  EXPECT_EQ(request(stun::Method::refresh, {}).error_code(), 441);
  username = "1700086400:test";
  EXPECT_EQ(request(stun::Method::refresh, [](auto& b) { b.add_u32(attr::requested_address_family, 0x02u << 24); })
                .error_code(),
            443);
}

TEST_F(TurnFixture, AllocationExpiresAndFreesItsPort) {
  allocate();
  auto port = ports.open_sockets.begin()->second.local.port;
  advance(std::chrono::seconds(599));
  EXPECT_EQ(server->allocation_count(), 1u);
  advance(std::chrono::seconds(2));
  EXPECT_EQ(server->allocation_count(), 0u);
  EXPECT_TRUE(ports.open_sockets.empty());
  EXPECT_FALSE(live.is_live(Family::v4, port));
  EXPECT_EQ(server->counters().allocations_expired, 1u);
}

TEST_F(TurnFixture, EvenPortReservationIsRedeemedByToken) {
  auto r = request(stun::Method::allocate, even_port_reserving_next);
  ASSERT_EQ(r.error_code(), 0);
  auto m = r.msg();
  auto relayed = stun::decode_xor_address(*m->find(attr::xor_relayed_address), m->transaction_id_ptr());
  EXPECT_EQ(relayed->port % 2, 0);
  auto token = *m->find(attr::reservation_token);
  std::vector<std::byte> tok(token.begin(), token.end());
  auto other = *Endpoint::parse("192.0.2.1:40002");
  auto r2 = request(stun::Method::allocate, with_token(tok), other);
  ASSERT_EQ(r2.error_code(), 0);
  auto m2 = r2.msg();
  EXPECT_EQ(stun::decode_xor_address(*m2->find(attr::xor_relayed_address), m2->transaction_id_ptr())->port,
            relayed->port + 1);
  // A token works once.
  auto third = *Endpoint::parse("192.0.2.1:40003");
  EXPECT_EQ(request(stun::Method::allocate, with_token(tok), third).error_code(),
            508);
}

// A worker that cannot watch one more socket (its epoll set full) closes the reserved one: the
// client is refused with 508 and nothing is left open for the token.
TEST_F(TurnFixture, AReservedSocketThatCannotBeWatchedGives508AndIsClosed) {
  auto r = request(stun::Method::allocate, even_port_reserving_next);
  ASSERT_EQ(r.error_code(), 0);
  auto token = *r.msg()->find(attr::reservation_token);
  std::vector<std::byte> tok(token.begin(), token.end());
  ASSERT_EQ(ports.open_sockets.size(), 2u);
  ports.refuse_adopt = true;
  EXPECT_EQ(request(stun::Method::allocate, with_token(tok), *Endpoint::parse("192.0.2.1:40002")).error_code(),
            508);
  EXPECT_EQ(ports.open_sockets.size(), 1u);  // the first allocation's socket only
  EXPECT_EQ(server->allocation_count(), 1u);
}

TEST_F(TurnFixture, UnclaimedReservationIsReleased) {
  request(stun::Method::allocate, even_port_reserving_next);
  EXPECT_EQ(ports.open_sockets.size(), 2u);
  advance(std::chrono::seconds(31));
  EXPECT_EQ(ports.open_sockets.size(), 1u);
}

TEST_F(TurnFixture, UserQuotaGives486AndPortExhaustion508) {
  start(2);
  allocate(*Endpoint::parse("192.0.2.1:1"));
  allocate(*Endpoint::parse("192.0.2.1:2"));
  EXPECT_EQ(request(stun::Method::allocate, test::udp_transport(), *Endpoint::parse("192.0.2.1:3")).error_code(), 486);
  username = "1700086400:other";
  ports.capacity = 2;
  EXPECT_EQ(request(stun::Method::allocate, test::udp_transport(), *Endpoint::parse("192.0.2.1:4")).error_code(), 508);
}

TEST_F(TurnFixture, DualStackAllocationReportsTheMissingFamily) {
  auto r = request(stun::Method::allocate, [](auto& b) {
    test::udp_transport()(b);
    b.add_u32(attr::additional_address_family, 0x02u << 24);
  });
  ASSERT_EQ(r.error_code(), 0);
  auto aec = *r.msg()->find(attr::address_error_code);
  EXPECT_EQ(std::to_integer<int>(aec[0]), 0x02);
  EXPECT_EQ(std::to_integer<int>(aec[2]) * 100 + std::to_integer<int>(aec[3]), 440);
  // A client of the draft's code points (coturn's) hears it at the draft's code point.
  client = *Endpoint::parse("192.0.2.10:40001");
  r = request(stun::Method::allocate, [](auto& b) {
    test::udp_transport()(b);
    b.add_u32(attr::additional_address_family_draft, 0x02u << 24);
  });
  ASSERT_EQ(r.error_code(), 0);
  EXPECT_FALSE(r.msg()->has(attr::address_error_code));
  aec = *r.msg()->find(attr::address_error_code_draft);
  EXPECT_EQ(std::to_integer<int>(aec[2]) * 100 + std::to_integer<int>(aec[3]), 440);
}

// RFC 8656's ADDITIONAL-ADDRESS-FAMILY (0x8000), and the draft's (0x8032) that coturn's
// turnutils_uclient -Z sends: without the latter its dual allocations got IPv4 alone, and its
// Refresh naming IPv6 a 443.
TEST_F(TurnFixture, DualStackAllocationGetsBothFamilies) {
  options.relay_v6 = true;
  start();
  for (const std::uint16_t type : {attr::additional_address_family, attr::additional_address_family_draft}) {
    SCOPED_TRACE(type);
    client = *Endpoint::parse(type == attr::additional_address_family ? "192.0.2.10:40001" : "192.0.2.10:40002");
    auto r = request(stun::Method::allocate, [&](auto& b) {
      test::udp_transport()(b);
      b.add_u32(type, 0x02u << 24);
    });
    ASSERT_EQ(r.error_code(), 0);
    auto m = r.msg();  // the view must outlive the loop over its attributes
    int relayed = 0;
    for (const auto& a : m->attributes()) relayed += a.type == attr::xor_relayed_address;
    EXPECT_EQ(relayed, 2);
    EXPECT_FALSE(m->has(attr::address_error_code));
    EXPECT_FALSE(m->has(attr::address_error_code_draft));
    for (std::uint8_t family : {0x01, 0x02})
      EXPECT_EQ(request(stun::Method::refresh, [&](auto& b) { b.add_u32(attr::requested_address_family, family << 24); })
                    .error_code(),
                0);
  }
  EXPECT_EQ(ports.open_sockets.size(), 4u);
}

// An Allocate that names no family gets IPv4 (RFC 8656 §7.2), unless the operator chose
// otherwise: ipv6, or keep (the client's own family). Naming a family, or asking for both,
// overrides the default.
TEST_F(TurnFixture, TheDefaultFamilyIsIpv4UnlessConfiguredAndANamedFamilyWins) {
  using DefaultFamily = turn::ServerOptions::DefaultFamily;
  auto relayed_families = [&](const char* from, auto extra) {
    client = *Endpoint::parse(from);
    auto r = request(stun::Method::allocate, [&](auto& b) {
      test::udp_transport()(b);
      extra(b);
    });
    std::string families = r.error_code() ? std::to_string(r.error_code()) : "";
    if (auto m = r.msg(); m && r.error_code() == 0)
      for (const auto& a : m->attributes())
        if (a.type == attr::xor_relayed_address) families += std::to_integer<int>(m->value(a)[1]) == 1 ? "4" : "6";
    return families;
  };
  auto none = [](auto&) {};
  auto v4 = [](auto& b) { b.add_u32(attr::requested_address_family, 0x01u << 24); };
  auto v6 = [](auto& b) { b.add_u32(attr::requested_address_family, 0x02u << 24); };
  auto dual = [](auto& b) { b.add_u32(attr::additional_address_family, 0x02u << 24); };
  auto restart = [&] {
    server.reset();  // before start() replaces the quotas it releases into
    start();
  };
  options.relay_v6 = true;
  restart();
  EXPECT_EQ(relayed_families("[2001:db8::7]:40000", none), "4");
  options.default_family = DefaultFamily::v6;
  restart();
  EXPECT_EQ(relayed_families("192.0.2.7:40001", none), "6");
  EXPECT_EQ(relayed_families("192.0.2.7:40002", v4), "4");
  EXPECT_EQ(relayed_families("192.0.2.7:40003", dual), "46");
  options.default_family = DefaultFamily::keep;
  restart();
  EXPECT_EQ(relayed_families("192.0.2.7:40004", none), "4");
  EXPECT_EQ(relayed_families("[2001:db8::7]:40005", none), "6");
  EXPECT_EQ(relayed_families("[2001:db8::7]:40006", v4), "4");
  EXPECT_EQ(relayed_families("192.0.2.7:40007", v6), "6");
  // A relay without IPv6 still answers 440 when the default leads there.
  options.relay_v6 = false;
  restart();
  EXPECT_EQ(relayed_families("[2001:db8::7]:40008", none), "440");
  EXPECT_EQ(relayed_families("192.0.2.7:40009", none), "4");
}

TEST_F(TurnFixture, ExternalIpIsReportedInsteadOfTheBoundAddress) {
  options.external_ip_v4 = *IpAddress::parse("203.0.113.77");
  start();
  auto r = request(stun::Method::allocate, test::udp_transport());
  auto relayed = stun::decode_xor_address(*r.msg()->find(attr::xor_relayed_address), r.msg()->transaction_id_ptr());
  EXPECT_EQ(relayed->ip.to_string(), "203.0.113.77");
}

TEST_F(TurnFixture, UnauthenticatedFloodIsRateLimitedPerPrefix) {
  auto req = test::build(stun::Method::allocate, stun::Class::request, test::random_tid(), test::udp_transport());
  std::size_t answers = 0;
  for (int i = 0; i < 10000; ++i) answers += deliver(req).size();
  EXPECT_EQ(answers, static_cast<std::size_t>(options.unauth_burst));
  EXPECT_EQ(server->allocation_count(), 0u);
  EXPECT_EQ(server->counters().dropped(turn::Drop::rate_limited), 10000 - answers);
  // Another prefix is not affected.
  EXPECT_EQ(deliver(req, *Endpoint::parse("198.51.100.99:1")).size(), 1u);
}

TEST_F(TurnFixture, TinyRequestsNeverGetAmplifiedAnswers) {
  // A 20-byte Allocate with no attributes: a 401 with REALM and NONCE would exceed 60 bytes.
  auto req = test::build(stun::Method::allocate, stun::Class::request, test::random_tid(), {});
  auto r = deliver(req);
  for (const auto& reply : r) EXPECT_LE(reply.bytes.size(), 3 * req.size());
  auto unknown_method = test::build(static_cast<stun::Method>(0x0ff), stun::Class::request, test::random_tid(), {});
  for (const auto& reply : deliver(unknown_method)) EXPECT_LE(reply.bytes.size(), 3 * unknown_method.size());
}

// Found by the turn_session fuzzer: a worker sends its outbox once per batch, so what a
// transmit points at must outlive every later datagram of the batch. A retransmission was
// answered with a pointer into the allocation's response cache; a Refresh with lifetime 0 in
// the same batch freed it, and the batch's send would have read freed memory (handing heap
// contents to the client). The answer is copied into the outbox now.
TEST_F(TurnFixture, ARetransmissionsAnswerSurvivesItsAllocationsDeletionInTheSameBatch) {
  allocate();
  const auto tid = test::random_tid();
  const auto first = request(stun::Method::create_permission, peer("8.8.8.8:1"), client, true, tid);
  ASSERT_EQ(first.error_code(), 0);
  // One batch: the retransmission, then the deletion, then the batch is sent.
  out.clear();
  auto a = creds(client);
  const auto again = test::build(stun::Method::create_permission, stun::Class::request, tid, peer("8.8.8.8:1"), &a);
  const auto gone = test::build(stun::Method::refresh, stun::Class::request, test::random_tid(),
                                [](stun::MessageBuilder& b) { b.add_u32(attr::lifetime, 0); }, &a);
  server->on_client_datagram(now, listener, client, again, out);
  server->on_client_datagram(now, listener, client, gone, out);
  ASSERT_EQ(server->allocation_count(), 0u);
  ASSERT_EQ(out.transmits().size(), 2u);
  const auto& t = out.transmits()[0];
  EXPECT_EQ(std::vector<std::byte>(t.data, t.data + t.size), first.bytes);
}
