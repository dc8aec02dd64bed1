// TURN over DTLS (RFC 7350) on the UDP side of --tls-listen, judged by OpenSSL's own DTLS
// client over real sockets: ALPN, an allocation relaying both ways byte for byte and ending
// with its session, stateless cookies against ClientHello floods (no state, no
// amplification), the per-source limit and the handshake timeout.
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <sstream>
#include <thread>

#include "hush/auth/rest_credential.hpp"
#include "hush/net/udp_socket.hpp"
#include "hush/stun/channel_data.hpp"
#include "relay_process.hpp"

using namespace hush;
using namespace hush::test;

namespace {

// A DTLS 1.2 client on a connected UDP socket (OpenSSL's datagram BIO), blocking with a
// 2-second receive timeout, offering ALPN "stun.turn".
class DtlsClient {
 public:
  explicit DtlsClient(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_storage ss{};
    const socklen_t len = net::to_sockaddr(*Endpoint::parse("127.0.0.1:" + std::to_string(port)), ss);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&ss), len) != 0) throw std::runtime_error("connect");
    timeval tv{2, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ctx_ = SSL_CTX_new(DTLS_client_method());
    ssl_ = SSL_new(ctx_);
    BIO* bio = BIO_new_dgram(fd_, BIO_NOCLOSE);
    BIO_ctrl(bio, BIO_CTRL_DGRAM_SET_CONNECTED, 0, &ss);
    SSL_set_bio(ssl_, bio, bio);
    static const unsigned char kAlpn[] = {9, 's', 't', 'u', 'n', '.', 't', 'u', 'r', 'n'};
    SSL_set_alpn_protos(ssl_, kAlpn, sizeof kAlpn);
  }
  ~DtlsClient() {
    SSL_free(ssl_);
    SSL_CTX_free(ctx_);
    ::close(fd_);
  }
  // Within 3 seconds, retransmitting on DTLS's own timer.
  bool handshake() {
    const int flags = ::fcntl(fd_, F_GETFL);
    ::fcntl(fd_, F_SETFL, flags | O_NONBLOCK);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    bool ok = false;
    while (std::chrono::steady_clock::now() < deadline) {
      const int r = SSL_connect(ssl_);
      if (r == 1) {
        ok = true;
        break;
      }
      if (SSL_get_error(ssl_, r) != SSL_ERROR_WANT_READ) break;
      timeval t{};
      const int wait = DTLSv1_get_timeout(ssl_, &t) ? static_cast<int>(t.tv_sec * 1000 + t.tv_usec / 1000) : 100;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, std::max(1, std::min(wait, 100))) == 0) DTLSv1_handle_timeout(ssl_);
    }
    ERR_clear_error();
    ::fcntl(fd_, F_SETFL, flags);
    return ok;
  }
  std::string alpn() const {
    const unsigned char* p = nullptr;
    unsigned n = 0;
    SSL_get0_alpn_selected(ssl_, &p, &n);
    return std::string(reinterpret_cast<const char*>(p), n);
  }
  void send(Bytes b) { SSL_write(ssl_, b.data(), static_cast<int>(b.size())); }
  std::optional<std::vector<std::byte>> receive() {
    std::vector<std::byte> buf(65536);
    const int n = SSL_read(ssl_, buf.data(), static_cast<int>(buf.size()));
    ERR_clear_error();
    if (n <= 0) return std::nullopt;
    buf.resize(static_cast<std::size_t>(n));
    return buf;
  }
  void close_notify() { SSL_shutdown(ssl_); }
  Endpoint local() const { return net::local_endpoint(fd_); }

  std::optional<stun::MessageView> transact(stun::Method m, const std::function<void(stun::MessageBuilder&)>& f,
                                            const LongTermAuth* a) {
    send(build(m, stun::Class::request, random_tid(), f, a));
    // The answer, past any ChannelData (cover traffic may arrive at any time).
    do last_ = receive();
    while (last_ && !last_->empty() && stun::first_byte_is_channel_data((*last_)[0]));
    if (!last_) return std::nullopt;
    auto parsed = stun::MessageView::parse(*last_);
    if (!parsed) return std::nullopt;
    return *parsed;
  }
  // Allocate with the 401 round; the relayed address, or nullopt.
  std::optional<Endpoint> allocate(const std::string& user, const std::string& password) {
    auto first = transact(stun::Method::allocate, udp_transport(), nullptr);
    if (!first) return std::nullopt;
    auth_ = LongTermAuth{user, std::string(*first->find_text(stun::attr::realm)),
                         std::string(*first->find_text(stun::attr::nonce)), password};
    auto r = transact(stun::Method::allocate, udp_transport(), &auth_);
    if (!r || r->has(stun::attr::error_code)) return std::nullopt;
    return stun::decode_xor_address(*r->find(stun::attr::xor_relayed_address), r->transaction_id_ptr());
  }
  bool bind_channel(std::uint16_t channel, const Endpoint& peer) {
    auto r = transact(stun::Method::channel_bind, [&](stun::MessageBuilder& b) {
      b.add_u32(stun::attr::channel_number, std::uint32_t{channel} << 16);
      b.add_xor_address(stun::attr::xor_peer_address, peer);
    }, &auth_);
    return r && !r->has(stun::attr::error_code);
  }

 private:
  int fd_;
  SSL_CTX* ctx_;
  SSL* ssl_;
  LongTermAuth auth_;
  std::optional<std::vector<std::byte>> last_;
};

// The first flight of a DTLS client, as bytes: a ClientHello without a cookie.
std::vector<std::byte> client_hello() {
  SSL_CTX* ctx = SSL_CTX_new(DTLS_client_method());
  SSL* ssl = SSL_new(ctx);
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl, in, out);
  SSL_connect(ssl);
  ERR_clear_error();
  char* data = nullptr;
  const long n = BIO_get_mem_data(out, &data);
  std::vector<std::byte> hello(reinterpret_cast<std::byte*>(data), reinterpret_cast<std::byte*>(data) + n);
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  return hello;
}

struct DtlsRelay {
  TestCertificate cert = make_test_certificate();
  std::uint16_t tls_port = free_udp_port();
  std::uint16_t metrics_port = free_tcp_port();
  Relay relay;
  explicit DtlsRelay(std::vector<std::string> more = {})
      : relay([&] {
          std::vector<std::string> args{"--tls-listen", "127.0.0.1:" + std::to_string(tls_port), "--cert", cert.cert,
                                        "--key",        cert.key, "--metrics", "127.0.0.1:" + std::to_string(metrics_port)};
          args.insert(args.end(), more.begin(), more.end());
          return args;
        }()) {}
  double metric(const std::string& name) const { return test::metric(metrics_port, name); }
  // Waits up to 5 s for a metric to reach a value.
  bool await(const std::string& name, double value) const {
    for (int i = 0; i < 100; ++i) {
      if (metric(name) == value) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }
};

}  // namespace

TEST(Dtls, OpenSslClientAllocatesRelaysBothWaysAndTheAllocationEndsWithTheSession) {
  DtlsRelay r;
  DtlsClient client(r.tls_port);
  ASSERT_TRUE(client.handshake());
  EXPECT_EQ(client.alpn(), "stun.turn");
  const auto user = r.relay.credential_username();
  const auto relayed = client.allocate(user, auth::rest_password(r.relay.secret, user));
  ASSERT_TRUE(relayed);
  EXPECT_EQ(r.metric(R"(hush_allocations_active{transport="dtls"})"), 1);
  UdpSocket peer;
  ASSERT_TRUE(client.bind_channel(0x4000, peer.local()));
  for (int i = 0; i < 100; ++i) {
    // DTLS-in-DTLS and SRTP-looking payloads both pass unchanged.
    std::string payload = (i % 2 ? "\x80\x60" : "\x17\xfe\xfd") + std::string(static_cast<std::size_t>(i * 13), 'x');
    std::vector<std::byte> cd(4 + payload.size());
    stun::write_channel_header(cd.data(), 0x4000, static_cast<std::uint16_t>(payload.size()));
    std::memcpy(cd.data() + 4, payload.data(), payload.size());
    client.send(cd);
    Endpoint from;
    auto got = peer.receive(std::chrono::seconds(2), &from);
    ASSERT_TRUE(got) << i;
    EXPECT_EQ(as_text(*got), payload);
    EXPECT_EQ(from, *relayed);
    peer.send_to(*relayed, as_bytes(payload));
    auto back = client.receive();
    ASSERT_TRUE(back) << i;
    auto parsed = stun::parse_channel_data(*back);
    ASSERT_TRUE(parsed);
    EXPECT_EQ(parsed->channel, 0x4000);
    EXPECT_EQ(as_text(parsed->payload), payload);
  }
  client.close_notify();
  EXPECT_TRUE(r.await(R"(hush_allocations_active{transport="dtls"})", 0));
  EXPECT_TRUE(r.await("hush_stream_connections_active", 0));
}

TEST(Dtls, ClientHelloFloodKeepsNoStateAndAmplifiesNothing) {
  DtlsRelay r;
  const auto hello = client_hello();
  ASSERT_GT(hello.size(), 50u);
  std::vector<std::unique_ptr<UdpSocket>> sources;
  for (int i = 0; i < 20; ++i) sources.push_back(std::make_unique<UdpSocket>());
  const auto server = *Endpoint::parse("127.0.0.1:" + std::to_string(r.tls_port));
  std::size_t answers = 0, answered_bytes = 0;
  for (int round = 0; round < 100; ++round) {
    for (auto& s : sources) s->send_to(server, hello);
    for (auto& s : sources)
      while (auto a = s->receive(std::chrono::milliseconds(answers == 0 ? 500 : 5))) {
        ++answers;
        answered_bytes += a->size();
        EXPECT_LE(a->size(), hello.size()) << "a HelloVerifyRequest is no larger than the ClientHello";
      }
  }
  EXPECT_GT(answers, 0u) << "cookies were sent";
  EXPECT_LE(answered_bytes, 2000 * hello.size());
  // Nobody echoed a cookie: no session, no connection counted.
  EXPECT_EQ(r.metric("hush_stream_connections_active"), 0);
  EXPECT_EQ(r.metric("hush_stream_accepted_total"), 0);
  // A real client is still served.
  DtlsClient client(r.tls_port);
  EXPECT_TRUE(client.handshake());
  EXPECT_TRUE(r.relay.process().running());
}

TEST(Dtls, PerSourceLimitHolds) {
  DtlsRelay r({"--max-connections-per-source", "2"});
  DtlsClient a(r.tls_port), b(r.tls_port), c(r.tls_port);
  EXPECT_TRUE(a.handshake());
  EXPECT_TRUE(b.handshake());
  EXPECT_FALSE(c.handshake()) << "a third session from one address is over the limit";
  EXPECT_GE(r.metric("hush_stream_refused_total"), 1);
  EXPECT_EQ(r.metric("hush_stream_connections_active"), 2);
}

TEST(Dtls, SessionsThatSendNoRequestEndAtTheHandshakeTimeout) {
  DtlsRelay r({"--stream-handshake-timeout", "1"});
  DtlsClient a(r.tls_port), b(r.tls_port);
  ASSERT_TRUE(a.handshake());
  ASSERT_TRUE(b.handshake());
  EXPECT_TRUE(r.await("hush_stream_connections_active", 0));
  EXPECT_EQ(r.metric(R"(hush_stream_closed_total{reason="timeout"})"), 2);
  DtlsClient c(r.tls_port);  // and the source may come back
  EXPECT_TRUE(c.handshake());
}

// --cover with --smoothing: inside a DTLS session, a tick without media carries a cover
// ChannelData on a channel the client never bound, padded like media; so the session shows one
// record of one size per tick whether anyone speaks or not. A UDP client gets no cover.
TEST(Dtls, CoverFillsEveryTickWithoutMediaAndLooksLikeMedia) {
  using Clock = std::chrono::steady_clock;
  DtlsRelay r({"--smoothing", "20ms", "--cover", "--padding", "fixed:256", "--threads", "1"});
  DtlsClient client(r.tls_port);
  ASSERT_TRUE(client.handshake());
  const auto user = r.relay.credential_username();
  const auto relayed = client.allocate(user, auth::rest_password(r.relay.secret, user));
  ASSERT_TRUE(relayed);
  UdpSocket peer;
  ASSERT_TRUE(client.bind_channel(0x4000, peer.local()));
  TurnClient udp(r.relay.endpoint(), user, auth::rest_password(r.relay.secret, user));
  ASSERT_TRUE(udp.allocate());

  // One second of silence, then one of media at every other tick: about 62 records each (50
  // ticks, every fourth with two), then 200 ms for the last media message's tick.
  std::vector<std::pair<Clock::time_point, std::vector<std::byte>>> records;
  std::thread speaker([&] {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    for (int i = 0; i < 25; ++i) {
      peer.send_to(*relayed, as_bytes(std::string(100, 'm')));
      std::this_thread::sleep_for(std::chrono::milliseconds(40));
    }
  });
  const auto start = Clock::now();
  while (Clock::now() - start < std::chrono::milliseconds(2200)) {
    auto rec = client.receive();
    if (rec) records.emplace_back(Clock::now(), std::move(*rec));
  }
  speaker.join();
  int silent = 0, talking = 0, media = 0;
  for (const auto& [at, bytes] : records) {
    EXPECT_EQ(bytes.size(), 256u) << "a record an observer could tell apart";
    auto cd = stun::parse_channel_data(bytes);
    ASSERT_TRUE(cd);
    if (cd->channel == 0x4000) {
      ++media;
      EXPECT_EQ(as_text(cd->payload), std::string(100, 'm'));
    }
    if (at - start < std::chrono::seconds(1))
      ++silent;
    else if (at - start < std::chrono::seconds(2))
      ++talking;
  }
  EXPECT_GE(silent, 55);
  EXPECT_LE(silent, 70);
  EXPECT_GE(talking, 55);
  EXPECT_LE(talking, 70);  // media replaces cover at its ticks, it does not add to them
  EXPECT_EQ(media, 25);
  EXPECT_GT(r.metric("hush_cover_bytes_total"), 0);
  EXPECT_FALSE(udp.socket().receive(std::chrono::milliseconds(300))) << "cover on a plain UDP leg";
}
