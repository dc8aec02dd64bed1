// TURN over TCP and TLS against hostile and careless clients, over real sockets: frames
// split byte by byte, garbage, frames announced and never sent, TLS ClientHello floods,
// connection limits, a client that never reads. No crash, bounded memory, other users
// unaffected; the allocation of a TCP client ends with its connection.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <regex>
#include <thread>

#include "hush/auth/rest_credential.hpp"
#include "hush/net/udp_socket.hpp"
#include "hush/stun/channel_data.hpp"
#include "relay_process.hpp"
#include "tcp_turn.hpp"

using namespace hush;
using namespace hush::test;

TEST(Streams, FramesSplitByteByByteAreReassembledAndTheAllocationEndsWithTheConnection) {
  const auto mport = free_tcp_port();
  Relay relay(with_metrics(mport));
  {
    TcpTurn c(relay.port);
    const auto binding = build(stun::Method::binding, stun::Class::request, random_tid(), {});
    for (std::byte b : binding) {
      c.send_raw(Bytes{&b, 1});
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    auto answer = c.read_frame();
    ASSERT_TRUE(answer);
    auto m = stun::MessageView::parse(*answer);
    ASSERT_TRUE(m);
    EXPECT_EQ(m->message_class(), stun::Class::success);
    const auto user = relay.credential_username();
    ASSERT_TRUE(c.allocate(user, auth::rest_password(relay.secret, user)));
    UdpSocket peer;
    ASSERT_TRUE(c.bind_channel(0x4001, peer.local()));
    // ChannelData over TCP: 5 bytes padded to 8; the peer gets exactly the 5.
    c.send_raw(as_bytes(std::string_view("\x40\x01\x00\x05hello\0\0\0", 12)));
    auto at_peer = peer.receive(std::chrono::seconds(2));
    ASSERT_TRUE(at_peer);
    EXPECT_EQ(as_text(*at_peer), "hello");
    peer.send_to(c.relayed(), as_bytes("back"));
    auto back = c.read_frame();
    ASSERT_TRUE(back);
    EXPECT_EQ(as_text(stun::parse_channel_data(*back)->payload), "back");
    EXPECT_EQ(metric(mport, R"(hush_allocations_active{transport="tcp"})"), 1);
  }
  for (int i = 0; i < 50 && metric(mport, "hush_allocations_closed_total") != 1; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(metric(mport, "hush_allocations_closed_total"), 1);
  EXPECT_EQ(metric(mport, R"(hush_allocations_active{transport="tcp"})"), 0);
}

TEST(Streams, GarbageClosesThatConnectionOnlyAndAnUnfinishedFrameTimesOut) {
  const auto mport = free_tcp_port();
  Relay relay(with_metrics(mport, {"--stream-handshake-timeout", "1"}));
  LiveCall call(relay);
  ASSERT_TRUE(call.works());
  TcpTurn http(relay.port);
  http.send_raw("GET / HTTP/1.1\r\nHost: relay\r\n\r\n");
  EXPECT_TRUE(http.closed_by_peer(std::chrono::seconds(2)));
  // Garbage in front of a valid frame: the stream cannot be resynchronised.
  TcpTurn prefixed(relay.port);
  auto binding = build(stun::Method::binding, stun::Class::request, random_tid(), {});
  binding.insert(binding.begin(), std::byte{0xEE});
  prefixed.send_raw(binding);
  EXPECT_TRUE(prefixed.closed_by_peer(std::chrono::seconds(2)));
  // 65,535 bytes announced, none sent: closed by the handshake timeout, nothing waits forever.
  TcpTurn announced(relay.port);
  announced.send_raw(as_bytes(std::string_view("\x40\x00\xff\xff", 4)));
  EXPECT_FALSE(announced.closed_by_peer(std::chrono::milliseconds(300)));
  EXPECT_TRUE(announced.closed_by_peer(std::chrono::seconds(3)));
  // "GET" starts like ChannelData (0x47): it waits for its frame and times out like the last.
  EXPECT_EQ(metric(mport, "hush_stream_closed_total{reason=\"malformed\"}"), 1);
  EXPECT_EQ(metric(mport, "hush_stream_closed_total{reason=\"timeout\"}"), 2);
  EXPECT_TRUE(call.works());
  EXPECT_TRUE(relay.process().running());
}

TEST(Streams, ConnectionLimitsRefuseTheExcessAndMemoryStaysBounded) {
  const auto mport = free_tcp_port();
  Relay relay(with_metrics(mport, {"--max-connections-per-source", "50", "--stream-handshake-timeout", "2"}));
  LiveCall call(relay);
  ASSERT_TRUE(call.works());
  const long rss_before = relay.process().rss_kib();
  std::vector<std::unique_ptr<TcpTurn>> conns;
  for (int i = 0; i < 60; ++i) {
    conns.push_back(std::make_unique<TcpTurn>(relay.port));
    conns.back()->send_raw(as_bytes(std::string_view("\x40\x00\xff\xfc", 4)));  // a 64 KiB frame, never sent
  }
  int refused = 0;
  for (auto& c : conns) refused += c->closed_by_peer(std::chrono::milliseconds(20));
  EXPECT_EQ(refused, 10) << http_request(mport, "/metrics").body;
  EXPECT_EQ(metric(mport, "hush_stream_refused_total"), 10);
  EXPECT_TRUE(call.works());
  const long rss_during = relay.process().rss_kib();
  EXPECT_LT(rss_during - rss_before, 16 * 1024) << rss_before << " -> " << rss_during << " KiB";
  // The handshake timeout frees them all.
  int closed = 0;
  for (auto& c : conns) closed += c->closed_by_peer(std::chrono::seconds(4));
  EXPECT_EQ(closed, 60);
  EXPECT_EQ(metric(mport, "hush_stream_connections_active"), 0);
}

TEST(Streams, TlsClientHelloFloodLeavesOthersServed) {
  const auto mport = free_tcp_port();
  const auto cert = make_test_certificate();
  const auto tls_port = free_udp_port();
  Relay relay(with_metrics(mport, {"--tls-listen", "127.0.0.1:" + std::to_string(tls_port), "--cert", cert.cert,
                                   "--key", cert.key, "--stream-handshake-timeout", "1"}));
  LiveCall call(relay);
  ASSERT_TRUE(call.works());
  std::vector<std::unique_ptr<TcpTurn>> flood;
  // Half a ClientHello record header, a bogus record, and connections that close at once.
  for (int i = 0; i < 90; ++i) {
    flood.push_back(std::make_unique<TcpTurn>(tls_port));
    if (i % 3 == 0) flood.back()->send_raw(as_bytes(std::string_view("\x16\x03\x01\x02\x00\x01\x00\x01", 8)));
    if (i % 3 == 1) flood.back()->send_raw(as_bytes(std::string_view("\x16\x03\x01\x00\x05hello", 10)));
    if (i % 3 == 2) flood.back().reset();
  }
  // A real TLS client is still served, with ALPN stun.turn.
  auto r = run_command("echo | timeout 5 openssl s_client -connect 127.0.0.1:" + std::to_string(tls_port) +
                       " -alpn stun.turn 2>&1");
  EXPECT_NE(r.output.find("ALPN protocol: stun.turn"), std::string::npos) << r.output;
  EXPECT_TRUE(call.works());
  for (auto& c : flood) {
    if (c) {
      EXPECT_TRUE(c->closed_by_peer(std::chrono::seconds(3)));
    }
  }
  EXPECT_GE(metric(mport, "hush_stream_closed_total{reason=\"tls_handshake\"}") +
                metric(mport, "hush_stream_closed_total{reason=\"timeout\"}"),
            60);
  // TLS 1.1 is refused.
  auto old = run_command("echo | timeout 5 openssl s_client -tls1_1 -connect 127.0.0.1:" + std::to_string(tls_port) + " 2>&1");
  EXPECT_EQ(old.output.find("ALPN protocol"), std::string::npos);
  EXPECT_EQ(old.output.find("Cipher is TLS"), std::string::npos) << old.output;
  EXPECT_TRUE(relay.process().running());
}

TEST(Streams, AClientThatNeverReadsIsDroppedNotBuffered) {
  const auto mport = free_tcp_port();
  Relay relay(with_metrics(mport, {"--stream-send-buffer", "131072"}));
  LiveCall call(relay);
  ASSERT_TRUE(call.works());
  TcpTurn sleeper(relay.port);
  int small = 4096;  // a small receive buffer so the kernel holds little
  ::setsockopt(sleeper.fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  const auto user = relay.credential_username();
  ASSERT_TRUE(sleeper.allocate(user, auth::rest_password(relay.secret, user)));
  UdpSocket peer;
  ASSERT_TRUE(sleeper.bind_channel(0x4002, peer.local()));
  const long rss_before = relay.process().rss_kib();
  const std::string payload(1000, 'm');
  for (int i = 0; i < 20000; ++i) {
    peer.send_to(sleeper.relayed(), as_bytes(payload));
    // Paced, so that the relay (not the kernel's UDP receive buffer, on a busy machine) is
    // what drops: 20 MB towards a reader that takes nothing.
    if (i % 100 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_GT(metric(mport, "hush_stream_slow_reader_drops_total"), 1000);
  const long rss_after = relay.process().rss_kib();
  EXPECT_LT(rss_after - rss_before, 8 * 1024) << rss_before << " -> " << rss_after << " KiB";
  EXPECT_TRUE(call.works());  // the other user is unaffected
}

TEST(Streams, Ipv6ListenersServeTcpLikeIpv4) {
  Relay relay({}, "::1");
  TcpTurn c(relay.port, true);
  c.send_raw(build(stun::Method::binding, stun::Class::request, random_tid(), {}));
  auto answer = c.read_frame();
  ASSERT_TRUE(answer);
  auto m = stun::MessageView::parse(*answer);
  ASSERT_TRUE(m);
  auto mapped = stun::decode_xor_address(*m->find(stun::attr::xor_mapped_address), m->transaction_id_ptr());
  ASSERT_TRUE(mapped);
  EXPECT_EQ(mapped->ip.to_string(), "::1");
  const auto user = relay.credential_username();
  ASSERT_TRUE(c.allocate(user, auth::rest_password(relay.secret, user), true));
  EXPECT_EQ(c.relayed().ip.to_string(), "::1");
  UdpSocket peer("::1");
  ASSERT_TRUE(c.bind_channel(0x4003, peer.local()));
  c.send_raw(as_bytes(std::string_view("\x40\x03\x00\x04ping", 8)));
  auto at_peer = peer.receive(std::chrono::seconds(2));
  ASSERT_TRUE(at_peer);
  EXPECT_EQ(as_text(*at_peer), "ping");
}

// No session tickets and no session cache on TLS or DTLS: a resumed session would tell the
// relay, and anyone on the path who sees the ticket in the ClientHello, that two connections
// are one caller's. Judged by OpenSSL's own client: it keeps a session only if it could resume
// it, and resumes whenever it can.
// Over TLS each answer goes in a record of its own, padded or not, as coturn writes them:
// clients such as coturn's uclient take one message per record and lose the rest of a shared
// one. Three Binding requests in one record: the first answer leaves at once and the other two
// queue behind it, where they used to leave together in one record.
TEST(Streams, TlsAnswersGoOneMessagePerRecord) {
  const auto cert = make_test_certificate();
  for (const std::string padding : {"off", "block:128"}) {
    const auto tls_port = free_udp_port();
    Relay relay({"--tls-listen", "127.0.0.1:" + std::to_string(tls_port), "--cert", cert.cert, "--key", cert.key,
                 "--padding", padding});
    TcpTurn tcp(tls_port);
    const int fd = tcp.fd();
    const timeval two_seconds{2, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &two_seconds, sizeof two_seconds);
    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    SSL* ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    ASSERT_EQ(SSL_connect(ssl), 1) << padding;
    std::vector<std::byte> three;
    std::vector<stun::TransactionId> tids;
    for (int i = 0; i < 3; ++i) {
      tids.push_back(random_tid());
      const auto b = build(stun::Method::binding, stun::Class::request, tids.back(), {});
      three.insert(three.end(), b.begin(), b.end());
    }
    ASSERT_EQ(SSL_write(ssl, three.data(), static_cast<int>(three.size())), static_cast<int>(three.size()));
    for (int i = 0; i < 3; ++i) {
      std::byte record[4096];
      const int n = SSL_read(ssl, record, sizeof record);  // at most one record's data
      ASSERT_GT(n, 20) << padding << ", answer " << i;
      const std::size_t length = 20 + (std::to_integer<std::size_t>(record[2]) << 8 | std::to_integer<std::size_t>(record[3]));
      EXPECT_EQ(static_cast<std::size_t>(n), length) << padding << ", answer " << i << ": not one message alone";
      const auto m = stun::MessageView::parse(Bytes{record, static_cast<std::size_t>(n)});
      ASSERT_TRUE(m) << padding << ", answer " << i << ": " << n << " bytes are not one STUN message";
      EXPECT_EQ(m->transaction_id(), tids[i]) << padding;
      EXPECT_EQ(m->message_class(), stun::Class::success) << padding;
    }
    SSL_free(ssl);
    SSL_CTX_free(ctx);
  }
}

TEST(Privacy, NoTlsOrDtlsSessionCanBeResumed) {
  const auto cert = make_test_certificate();
  const auto tls_port = free_udp_port();
  Relay relay({"--tls-listen", "127.0.0.1:" + std::to_string(tls_port), "--cert", cert.cert, "--key", cert.key});
  const std::string dir = cert.cert.substr(0, cert.cert.rfind('/'));  // the certificate's own temp directory
  for (const std::string version : {"-tls1_3", "-dtls1_2"}) {
    const std::string session = dir + "/session" + version + ".pem";
    const std::string connect = "(sleep 1) | timeout 5 openssl s_client " + version + " -connect 127.0.0.1:" +
                                std::to_string(tls_port) + " 2>&1";
    auto first = run_command(connect + " -sess_out " + session);
    EXPECT_NE(first.output.find("New, "), std::string::npos) << version << ": " << first.output;
    EXPECT_EQ(first.output.find("session ticket"), std::string::npos) << version << ": " << first.output;
    if (::access(session.c_str(), F_OK) == 0) {  // a session was kept: it must not resume
      auto second = run_command(connect + " -sess_in " + session);
      EXPECT_NE(second.output.find("New, "), std::string::npos) << version << ": " << second.output;
      EXPECT_EQ(second.output.find("Reused, "), std::string::npos) << version << ": " << second.output;
    }
  }
  EXPECT_TRUE(relay.process().running());
}
