// Hostile input against the real binary: no crash, bounded memory, other users unaffected,
// no amplification, floods rate-limited.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "hush/auth/rest_credential.hpp"
#include "hush/stun/channel_data.hpp"
#include "relay_process.hpp"
#include "tcp_turn.hpp"

using namespace hush;
using namespace hush::test;

namespace {

std::size_t drain(UdpSocket& s, std::size_t request_size, std::size_t& oversized) {
  std::size_t n = 0;
  while (auto r = s.receive(std::chrono::milliseconds(200))) {
    ++n;
    if (r->size() > 3 * request_size) ++oversized;
  }
  return n;
}

}  // namespace

TEST(BadInput, MalformedDatagramsAreDroppedAndOthersKeepRelaying) {
  Relay relay({"--threads", "1"});
  LiveCall call(relay);
  ASSERT_TRUE(call.works());

  UdpSocket attacker;
  const Endpoint target = relay.endpoint();
  auto good = build(stun::Method::binding, stun::Class::request, random_tid(), {});
  std::vector<std::vector<std::byte>> junk;
  junk.push_back(std::vector<std::byte>(good.begin(), good.begin() + 10));  // truncated header
  auto overrun = good;
  store_u16(overrun.data() + 2, 400);  // length beyond the datagram
  junk.push_back(overrun);
  auto lying = build(stun::Method::allocate, stun::Class::request, random_tid(), udp_transport());
  store_u16(lying.data() + 22, 0x7FFF);  // attribute length lies
  junk.push_back(lying);
  LongTermAuth a{relay.credential_username(), "hush", "AAAAAAAAAAAAAAAA", "x"};
  auto wrong_range = build(stun::Method::allocate, stun::Class::request, random_tid(), udp_transport(), &a);
  wrong_range[25] ^= std::byte{0xFF};  // integrity no longer covers what was signed
  junk.push_back(wrong_range);
  junk.push_back(std::vector<std::byte>(65507, std::byte{0x00}));  // the largest UDP payload
  std::vector<std::byte> random_bytes(65507);
  auth::random_bytes(random_bytes.data(), random_bytes.size());
  junk.push_back(random_bytes);
  auto bogus_channel = channel_data(0x4000, "x");
  store_u16(bogus_channel.data() + 2, 65535);
  junk.push_back(bogus_channel);
  for (int round = 0; round < 20; ++round)
    for (const auto& j : junk) attacker.send_to(target, j);

  EXPECT_TRUE(relay.process().running());
  EXPECT_TRUE(call.works());
  // A proper request still gets an answer.
  attacker.send_to(target, good);
  std::optional<std::vector<std::byte>> answer;
  while ((answer = attacker.receive(std::chrono::seconds(2)))) {
    auto m = stun::MessageView::parse(*answer);
    if (m && m->message_class() == stun::Class::success) break;
  }
  EXPECT_TRUE(answer);
}

// Allocations deleted and re-created while a peer floods their relayed addresses: each
// relayed socket leaves the worker's epoll set with datagrams still queued on it, new ones
// (often with the same descriptor numbers) join it, and the other calls keep relaying. Under
// ASan this also catches a freed socket state read by a later round.
TEST(BadInput, AllocationsDeletedWhileTheirPeersFloodThemLeaveOthersRelaying) {
  Relay relay({"--threads", "1"});
  std::vector<std::unique_ptr<LiveCall>> calls;
  std::vector<Endpoint> targets;
  for (int i = 0; i < 16; ++i) {
    calls.push_back(std::make_unique<LiveCall>(relay));
    ASSERT_TRUE(calls.back()->works()) << i;
    targets.push_back(calls.back()->client.relayed());
  }
  std::atomic<bool> stop{false};
  std::atomic<int> sent{0};
  std::thread flooder([&] {
    UdpSocket s;  // from 127.0.0.1, which every allocation permits
    const auto payload = as_bytes("flood");
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    for (int n = 0; n < 300000 && !stop && std::chrono::steady_clock::now() < deadline; ++n, ++sent)
      s.send_to(targets[static_cast<std::size_t>(n) % targets.size()], payload);
  });
  while (sent < 1000) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  for (std::size_t i = 0; i < 8; ++i) {
    // Refresh with lifetime 0 deletes it (a retry after a lost answer gets 437: gone either way).
    EXPECT_TRUE(calls[i]->client.transact(stun::Method::refresh, [](auto& b) { b.add_u32(stun::attr::lifetime, 0); }));
    calls[i] = std::make_unique<LiveCall>(relay);
  }
  stop = true;
  flooder.join();
  EXPECT_GE(sent, 1000);
  ASSERT_TRUE(relay.process().running());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  for (std::size_t i = 0; i < calls.size(); ++i) {
    while (calls[i]->client.socket().receive(std::chrono::milliseconds(20))) {
    }  // what the flood left in this client's socket
    EXPECT_TRUE(calls[i]->works()) << i;
  }
}

// Out of descriptors (the relay under a hard limit of 128 open files): an Allocate past it
// is refused with 508 at once; a TCP connection waits in the listen queue without the relay
// spinning on accept (which fails and leaves it queued); calls already up keep relaying; and
// each deleted allocation's descriptor serves the next comer.
TEST(BadInput, RunningOutOfDescriptorsRefusesAllocationsWith508AndKeepsTheOthers) {
  Relay relay({"--threads", "1", "--user-quota", "0", "--kernel-fastpath", "off"}, "127.0.0.1",
              {"/usr/bin/prlimit", "--nofile=128:128"});
  LiveCall call(relay);
  ASSERT_TRUE(call.works());
  const std::string user = relay.credential_username();
  const std::string password = auth::rest_password(relay.secret, user);
  std::vector<std::unique_ptr<TurnClient>> clients;
  int last_error = 0;
  for (int i = 0; i < 200; ++i) {  // 128 descriptors cannot hold 200 allocations
    auto c = std::make_unique<TurnClient>(relay.endpoint(), user, password);
    if (!c->allocate()) {
      last_error = c->last_error();
      break;
    }
    clients.push_back(std::move(c));
  }
  EXPECT_EQ(last_error, 508);
  ASSERT_GT(clients.size(), 64u);  // the limit, not something else, stopped it
  EXPECT_LT(clients.size(), 128u);
  ASSERT_TRUE(relay.process().running());
  EXPECT_TRUE(call.works());

  // The kernel completes the handshake; the relay cannot accept it yet. Spinning on accept
  // would burn a whole core here: 0.3 s of CPU in 1 s is far above a retry every 100 ms.
  TcpTurn waiting(relay.port);
  const double cpu_before = relay.process().cpu_seconds();
  std::this_thread::sleep_for(std::chrono::seconds(1));
  EXPECT_LT(relay.process().cpu_seconds() - cpu_before, 0.3);
  EXPECT_TRUE(call.works());

  // Refresh with lifetime 0 deletes an allocation; the waiting connection takes its descriptor.
  auto remove_one = [&] {
    ASSERT_FALSE(clients.empty());
    EXPECT_TRUE(clients.back()->transact(stun::Method::refresh, [](auto& b) { b.add_u32(stun::attr::lifetime, 0); }));
    clients.pop_back();
  };
  remove_one();
  waiting.send_raw(build(stun::Method::binding, stun::Class::request, random_tid(), {}));
  auto answer = waiting.read_frame(std::chrono::seconds(3));
  ASSERT_TRUE(answer);
  EXPECT_EQ(stun::MessageView::parse(*answer)->message_class(), stun::Class::success);

  remove_one();
  LiveCall next(relay);
  EXPECT_TRUE(next.works());
  TurnClient one_more(relay.endpoint(), user, password);
  EXPECT_FALSE(one_more.allocate());
  EXPECT_EQ(one_more.last_error(), 508);
  EXPECT_TRUE(call.works());
}

TEST(BadInput, TenThousandBogusAllocatesAreRateLimitedWithBoundedMemory) {
  Relay relay({"--threads", "1"});
  LiveCall call(relay);
  ASSERT_TRUE(call.works());
  const long rss_before = relay.process().rss_kib();

  UdpSocket attacker;
  std::size_t oversized = 0;
  std::size_t answers = 0;
  auto bogus = build(stun::Method::allocate, stun::Class::request, random_tid(), udp_transport());
  for (int i = 0; i < 10000; ++i) {
    bogus = build(stun::Method::allocate, stun::Class::request, random_tid(), udp_transport());
    attacker.send_to(relay.endpoint(), bogus);
    if (i % 500 == 0) answers += drain(attacker, bogus.size(), oversized);
  }
  answers += drain(attacker, bogus.size(), oversized);
  EXPECT_EQ(oversized, 0u);
  // Default --unauth-rate 100/s with a burst of 200 per /24: far fewer answers than requests.
  EXPECT_GT(answers, 0u);
  EXPECT_LT(answers, 2000u);
  EXPECT_TRUE(relay.process().running());
  EXPECT_TRUE(call.works());
  const long rss_after = relay.process().rss_kib();
  EXPECT_LT(rss_after - rss_before, 8 * 1024) << "RSS grew from " << rss_before << " to " << rss_after << " KiB";
}

TEST(BadInput, UnauthenticatedAnswersNeverExceedThreeTimesTheRequest) {
  Relay relay({"--threads", "1", "--realm", "a-rather-long-realm-name.example.org"});
  UdpSocket s;
  std::vector<std::vector<std::byte>> requests = {
      build(stun::Method::binding, stun::Class::request, random_tid(), {}),
      build(stun::Method::allocate, stun::Class::request, random_tid(), {}),
      build(stun::Method::allocate, stun::Class::request, random_tid(), udp_transport()),
      build(stun::Method::refresh, stun::Class::request, random_tid(), {}),
      build(static_cast<stun::Method>(0x0ff), stun::Class::request, random_tid(), {}),
  };
  for (const auto& req : requests) {
    s.send_to(relay.endpoint(), req);
    while (auto r = s.receive(std::chrono::milliseconds(300))) EXPECT_LE(r->size(), 3 * req.size());
  }
}

namespace {
// Everything that would identify the call's parties; none of it may reach a log line.
std::vector<std::string> identifying(LiveCall& call, UdpSocket& stranger, TurnClient& intruder) {
  return {call.client.socket().local().to_string(), std::to_string(call.client.socket().local().port),
          call.peer.local().to_string(), std::to_string(call.peer.local().port), call.client.relayed().to_string(),
          std::to_string(call.client.relayed().port), stranger.local().to_string(),
          std::to_string(stranger.local().port), std::to_string(intruder.socket().local().port),
          std::string(":integration"), std::string("127.0.0.1")};
}

// Real traffic with events of every kind: an allocation, a call, a stranger without
// credentials, a wrong password, a deletion.
void exercise(Relay& relay, LiveCall& call, UdpSocket& stranger, TurnClient& intruder) {
  ASSERT_TRUE(call.works());
  stranger.send_to(relay.endpoint(), build(stun::Method::allocate, stun::Class::request, random_tid(), udp_transport()));
  (void)stranger.receive(std::chrono::milliseconds(300));
  EXPECT_FALSE(intruder.allocate());
  ASSERT_TRUE(call.client.transact(stun::Method::refresh, [](auto& b) { b.add_u32(stun::attr::lifetime, 0); }));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
}
}  // namespace

// Relay port exhaustion: with every relayed port taken, one more Allocate gets 508 at once,
// the calls that hold the ports go on, and a port freed by a deletion is used again.
TEST(BadInput, WhenEveryRelayPortIsTakenAllocatesGet508AndCallsGoOn) {
  // A range no other test's relay uses: integration tests run two at a time.
  Relay relay({"--threads", "1", "--relay-ports", "65100-65103"});
  std::vector<std::unique_ptr<LiveCall>> calls;
  for (int i = 0; i < 4; ++i) {
    calls.push_back(std::make_unique<LiveCall>(relay));
    ASSERT_TRUE(calls.back()->works()) << i;
  }
  const std::string user = relay.credential_username();
  TurnClient one_more(relay.endpoint(), user, auth::rest_password(relay.secret, user));
  EXPECT_FALSE(one_more.allocate());
  EXPECT_EQ(one_more.last_error(), 508);
  for (auto& c : calls) EXPECT_TRUE(c->works());
  ASSERT_TRUE(calls[0]->client.transact(stun::Method::refresh,
                                        [](stun::MessageBuilder& b) { b.add_u32(stun::attr::lifetime, 0); }));
  EXPECT_TRUE(one_more.allocate()) << one_more.last_error();
  EXPECT_EQ(one_more.relayed().port, calls[0]->client.relayed().port);
}

// --block-after: a source that floods the relay with guessed passwords (each with the nonce
// it was given, so the relay must compute an HMAC for each) is blocked after a few; its
// further requests cost no HMAC, a call in progress goes on, and other sources are served.
TEST(BadInput, APasswordGuessingFloodIsBlockedWhileCallsGoOn) {
  const std::uint16_t mport = free_tcp_port();
  Relay relay({"--metrics", "127.0.0.1:" + std::to_string(mport), "--block-after", "5", "--threads", "1"});
  LiveCall call(relay);  // from 127.0.0.1, before the flood
  ASSERT_TRUE(call.works());
  const std::string user = relay.credential_username();
  TurnClient guesser(relay.endpoint(), user, "not-the-password");
  // 401 without a nonce, then 401 with the nonce it gave: the first failure.
  auto challenge = guesser.transact(stun::Method::allocate, udp_transport());
  ASSERT_TRUE(challenge);
  ASSERT_EQ(guesser.last_error(), 401);
  const LongTermAuth wrong{user, std::string(*challenge->find_text(stun::attr::realm)),
                           std::string(*challenge->find_text(stun::attr::nonce)), "not-the-password"};
  // The flood: 2,000 requests with that valid nonce and a wrong MESSAGE-INTEGRITY, at line rate.
  for (int i = 0; i < 2000; ++i)
    guesser.socket().send_to(relay.endpoint(),
                             build(stun::Method::allocate, stun::Class::request, random_tid(), udp_transport(), &wrong));
  std::size_t answered = 0;
  while (guesser.socket().receive(std::chrono::milliseconds(300))) ++answered;
  EXPECT_LE(answered, 4u) << "answers after the fifth failure";  // without the block: 200, the rate limit's burst
  EXPECT_EQ(metric(mport, "hush_source_blocks_total"), 1);
  // The call from the same address goes on: a block stops requests, not media.
  EXPECT_TRUE(call.works());
  // The right credential from the blocked address is not looked at...
  TurnClient same_address(relay.endpoint(), user, auth::rest_password(relay.secret, user));
  EXPECT_FALSE(same_address.allocate());
  EXPECT_GE(metric(mport, R"(hush_dropped_packets_total{reason="blocked"})"), 1);
  // ...and another address is served.
  TurnClient other(relay.endpoint(), user, auth::rest_password(relay.secret, user), "127.0.0.2");
  EXPECT_TRUE(other.allocate()) << other.last_error();
  EXPECT_TRUE(relay.process().await_output("source blocked"));
}

TEST(Privacy, DebugLogsHoldNoAddressPortOrUsername) {
  Relay relay({"--threads", "2"});  // the test relay always runs with --log-level debug
  {
    LiveCall call(relay);
    UdpSocket stranger;
    TurnClient intruder(relay.endpoint(), relay.credential_username(), "wrong-password");
    exercise(relay, call, stranger, intruder);
    const std::string out = relay.process().output();
    // The events are there (so this test looks at real log lines) ...
    for (const char* event : {"allocation created", "authentication failed reason=bad_integrity", "allocation deleted"})
      EXPECT_NE(out.find(event), std::string::npos) << event << " missing:\n" << out;
    // ... and name nobody: no pseudonyms either, unless asked for.
    for (const auto& bit : identifying(call, stranger, intruder))
      EXPECT_EQ(out.find(bit), std::string::npos) << "log shows " << bit << ":\n" << out;
    EXPECT_EQ(out.find("source="), std::string::npos) << out;
  }
  EXPECT_EQ(relay.process().stop(), 0);
}

TEST(Privacy, PseudonymsFollowOneSourceInJsonLogs) {
  Relay relay({"--threads", "2", "--log-format", "json", "--log-pseudonyms"});
  LiveCall call(relay);
  UdpSocket stranger;
  TurnClient intruder(relay.endpoint(), relay.credential_username(), "wrong-password");
  exercise(relay, call, stranger, intruder);
  const std::string out = relay.process().output();
  for (const auto& bit : identifying(call, stranger, intruder))
    EXPECT_EQ(out.find(bit), std::string::npos) << "log shows " << bit << ":\n" << out;
  // Every line is one JSON object with ts, level and msg.
  std::istringstream lines(out);
  const std::regex object(R"(\{"ts":"[0-9T:Z-]+","level":"[a-z]+","msg":"[^"]*"(,"[a-z]+":"[^"]*")*\})");
  std::map<std::string, std::set<std::string>> sources;  // event -> source pseudonyms
  std::set<std::string> users;
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] != '{') continue;  // the relay's own stdout (none with a secret file)
    EXPECT_TRUE(std::regex_match(line, object)) << line;
    std::smatch m;
    if (std::regex_search(line, m, std::regex(R"re("msg":"([^"]+)".*"source":"(s-[a-z2-7]{12})","user":"(u-[a-z2-7]{12})")re"))) {
      sources[m[1]].insert(m[2]);
      users.insert(m[3]);
    }
  }
  // The call's client and the intruder share 127.0.0.1: one source pseudonym for all their
  // events, and one user pseudonym for the one username they both used.
  ASSERT_TRUE(sources.count("allocation created")) << out;
  ASSERT_TRUE(sources.count("authentication failed")) << out;
  ASSERT_TRUE(sources.count("allocation deleted")) << out;
  EXPECT_EQ(sources["allocation created"], sources["authentication failed"]);
  EXPECT_EQ(sources["allocation created"], sources["allocation deleted"]);
  EXPECT_EQ(sources["allocation created"].size(), 1u);
  EXPECT_EQ(users.size(), 1u);
}

// The seeds' Wireshark test, automated: SRTP, SRTCP, ZRTP, DTLS and STUN-looking payloads of
// many sizes cross the relay both ways, over a channel and as Send/Data indications, and
// leave byte for byte as they entered.
TEST(Privacy, MediaPayloadsLeaveByteIdentical) {
  Relay relay({"--threads", "2"});
  std::mt19937 rng(20261122);
  auto random_bytes = [&](std::size_t n) {
    std::string s(n, '\0');
    for (auto& c : s) c = static_cast<char>(rng() & 0xFF);
    return s;
  };
  auto with_prefix = [&](std::string prefix, std::size_t n) { return prefix + random_bytes(n - prefix.size()); };
  std::vector<std::pair<std::string, std::string>> payloads = {
      {"SRTP", with_prefix("\x80\x6f\x12\x34\x00\x01\x02\x03\xde\xad\xbe\xef", 172)},
      {"SRTCP", with_prefix(std::string("\x81\xc8\x00\x0c", 4), 80)},
      {"ZRTP", with_prefix(std::string("\x10\x00\x00\x07ZRTP", 8), 116)},  // magic cookie 0x5A525450
      {"DTLS handshake", with_prefix(std::string("\x16\xfe\xfd\x00\x00", 5), 230)},
      {"DTLS application data", with_prefix(std::string("\x17\xfe\xfd\x00\x01", 5), 1199)},
      {"STUN-looking", with_prefix(std::string("\x00\x01\x00\x08\x21\x12\xa4\x42", 8), 28)},
      {"ChannelData-looking", with_prefix(std::string("\x40\x00\x00\x10", 4), 20)},
      {"one byte", random_bytes(1)},
      {"three bytes", random_bytes(3)},
      {"large", random_bytes(8000)},
  };
  LiveCall call(relay);  // a channel
  ASSERT_TRUE(call.works());
  UdpSocket peer2;
  TurnClient indications(relay.endpoint(), relay.credential_username(),
                         auth::rest_password(relay.secret, relay.credential_username()));
  ASSERT_TRUE(indications.allocate());
  ASSERT_TRUE(indications.create_permission(peer2.local()));
  for (const auto& [what, p] : payloads) {
    // Client to peer over the channel, and back as ChannelData.
    call.client.send_channel(0x4000, p);
    auto at_peer = call.peer.receive(std::chrono::seconds(2));
    ASSERT_TRUE(at_peer) << what;
    EXPECT_EQ(as_text(*at_peer), p) << what << " changed on its way to the peer";
    call.peer.send_to(call.client.relayed(), as_bytes(p));
    auto back = call.client.socket().receive(std::chrono::seconds(2));
    ASSERT_TRUE(back) << what;
    auto cd = stun::parse_channel_data(*back);
    ASSERT_TRUE(cd) << what;
    EXPECT_EQ(as_text(cd->payload), p) << what << " changed on its way to the client";
    // The same as Send and Data indications.
    indications.send_indication(peer2.local(), p);
    auto at_peer2 = peer2.receive(std::chrono::seconds(2));
    ASSERT_TRUE(at_peer2) << what;
    EXPECT_EQ(as_text(*at_peer2), p) << what << " changed in a Send indication";
    peer2.send_to(indications.relayed(), as_bytes(p));
    auto data = indications.socket().receive(std::chrono::seconds(2));
    ASSERT_TRUE(data) << what;
    auto m = stun::MessageView::parse(*data);
    ASSERT_TRUE(m) << what;
    EXPECT_EQ(as_text(*m->find(stun::attr::data)), p) << what << " changed in a Data indication";
  }
}
