#include "hush/net/dtls.hpp"

#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <mutex>

#include "tls_common.hpp"
#include "hush/base/bytes.hpp"
#include "hush/net/udp_socket.hpp"
#include "hush/stun/channel_data.hpp"
#include "hush/stun/constants.hpp"

namespace hush::net {

namespace {

constexpr long kLinkMtu = 1500;                // handshake flights are fragmented to fit
constexpr std::size_t kMaxRecord = 16384 + 2048;  // the largest DTLS record's plaintext, with room

// Where a session's records come from and go to: the datagram being processed, and the
// worker's socket and the client's address. It is the data of a BIO of our own, so that
// every record OpenSSL writes leaves as one datagram (a memory BIO would join them).
struct Link {
  int fd = -1;
  Endpoint peer;
  sockaddr_storage to{};
  socklen_t to_len = 0;
  const std::byte* rx = nullptr;
  std::size_t rx_len = 0;
  void set_peer(const Endpoint& p) {
    peer = p;
    to_len = to_sockaddr(p, to);
  }
};

int link_write(BIO* b, const char* data, int len) {
  auto* l = static_cast<Link*>(BIO_get_data(b));
  // A full socket buffer loses the datagram, as UDP may: DTLS retransmits its handshake.
  (void)::sendto(l->fd, data, static_cast<std::size_t>(len), MSG_DONTWAIT, reinterpret_cast<const sockaddr*>(&l->to),
                 l->to_len);
  return len;
}

int link_read(BIO* b, char* out, int len) {
  auto* l = static_cast<Link*>(BIO_get_data(b));
  BIO_clear_retry_flags(b);
  if (l->rx == nullptr) {
    BIO_set_retry_read(b);
    return -1;
  }
  const std::size_t n = std::min(l->rx_len, static_cast<std::size_t>(len));
  std::memcpy(out, l->rx, n);
  l->rx = nullptr;  // one datagram, read once
  return static_cast<int>(n);
}

long link_ctrl(BIO* b, int cmd, long, void*) {
  auto* l = static_cast<Link*>(BIO_get_data(b));
  switch (cmd) {
    case BIO_CTRL_FLUSH:
      return 1;
    case BIO_CTRL_DGRAM_GET_MTU_OVERHEAD:
      return l != nullptr && l->peer.ip.is_v6() ? 48 : 28;  // IP and UDP headers
    default:
      return 0;  // no peeking, no MTU discovery, nothing pending
  }
}

BIO_METHOD* link_method() {
  static BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "hush-dtls-link");
    BIO_meth_set_write(m, link_write);
    BIO_meth_set_read(m, link_read);
    BIO_meth_set_ctrl(m, link_ctrl);
    BIO_meth_set_create(m, [](BIO* b) {
      BIO_set_init(b, 1);
      return 1;
    });
    return m;
  }();
  return method;
}

// Stateless cookies (RFC 6347 §4.2.1): an HMAC of the client's address and port under a key
// drawn at start-up and held only in memory.
const std::array<unsigned char, 32>& cookie_key() {
  static const std::array<unsigned char, 32> key = [] {
    std::array<unsigned char, 32> k{};
    if (RAND_bytes(k.data(), static_cast<int>(k.size())) != 1) std::abort();
    return k;
  }();
  return key;
}

unsigned make_cookie(SSL* ssl, unsigned char* out) {
  const auto* l = static_cast<Link*>(BIO_get_data(SSL_get_rbio(ssl)));
  unsigned char input[18];
  std::memcpy(input, l->peer.ip.data(), l->peer.ip.size());
  input[l->peer.ip.size()] = static_cast<unsigned char>(l->peer.port >> 8);
  input[l->peer.ip.size() + 1] = static_cast<unsigned char>(l->peer.port & 0xFF);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned mac_len = 0;
  HMAC(EVP_sha256(), cookie_key().data(), static_cast<int>(cookie_key().size()), input, l->peer.ip.size() + 2, mac,
       &mac_len);
  constexpr unsigned kCookie = 16;
  std::memcpy(out, mac, kCookie);
  return kCookie;
}

int generate_cookie(SSL* ssl, unsigned char* cookie, unsigned* len) {
  *len = make_cookie(ssl, cookie);
  return 1;
}

int verify_cookie(SSL* ssl, const unsigned char* cookie, unsigned len) {
  unsigned char expected[EVP_MAX_MD_SIZE];
  const unsigned n = make_cookie(ssl, expected);
  return len == n && CRYPTO_memcmp(cookie, expected, n) == 0 ? 1 : 0;
}

std::string openssl_error() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown error";
  char text[256];
  ERR_error_string_n(e, text, sizeof text);
  return text;
}

SSL* new_ssl(SSL_CTX* ctx, Link* link) {
  SSL* ssl = SSL_new(ctx);
  if (ssl == nullptr) return nullptr;
  BIO* bio = BIO_new(link_method());
  BIO_set_data(bio, link);
  SSL_set_bio(ssl, bio, bio);  // the SSL owns the BIO; the Link outlives both
  SSL_set_options(ssl, SSL_OP_COOKIE_EXCHANGE);
  DTLS_set_link_mtu(ssl, kLinkMtu);
  return ssl;
}

}  // namespace

Result<DtlsContext, std::string> make_dtls_context(const std::string& cert, const std::string& key) {
  DtlsContext ctx(SSL_CTX_new(DTLS_server_method()), SSL_CTX_free);
  if (!ctx) return err("cannot create a DTLS context: " + openssl_error());
  SSL_CTX* c = ctx.get();
  SSL_CTX_set_min_proto_version(c, DTLS1_2_VERSION);
  SSL_CTX_set_cipher_list(c, "ECDHE+AESGCM:ECDHE+CHACHA20");
  SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_QUERY_MTU |
                             SSL_OP_COOKIE_EXCHANGE);
  no_resumption(c);
  SSL_CTX_set_alpn_select_cb(c, select_turn_alpn, nullptr);
  SSL_CTX_set_cookie_generate_cb(c, generate_cookie);
  SSL_CTX_set_cookie_verify_cb(c, verify_cookie);
  if (SSL_CTX_use_certificate_chain_file(c, cert.c_str()) != 1)
    return err("cannot load certificate " + cert + ": " + openssl_error());
  if (SSL_CTX_use_PrivateKey_file(c, key.c_str(), SSL_FILETYPE_PEM) != 1)
    return err("cannot load key " + key + ": " + openssl_error());
  if (SSL_CTX_check_private_key(c) != 1) return err("key " + key + " does not match certificate " + cert);
  return ctx;
}

// ---- sessions and listeners ---------------------------------------------------------------

struct DtlsHub::Session {
  turn::FiveTuple tuple;
  std::unique_ptr<Link> link;
  SSL* ssl = nullptr;
  turn::TimePoint created, last_rx;
  bool established = false;  // handshake done and a first record received
  ~Session() { SSL_free(ssl); }
};

// DTLSv1_listen answers ClientHellos without a valid cookie statelessly; the SSL object it
// accepts a ClientHello on becomes that client's session, and a fresh one listens.
struct DtlsHub::Listener {
  int fd;
  std::unique_ptr<Link> link;
  SSL* ssl = nullptr;
  explicit Listener(int f) : fd(f) {}
  ~Listener() { SSL_free(ssl); }
  void reset(SSL_CTX* ctx) {
    SSL_free(ssl);
    link = std::make_unique<Link>();
    link->fd = fd;
    ssl = new_ssl(ctx, link.get());
  }
};

DtlsHub::DtlsHub(turn::Server& server, turn::Outbox& outbox, Flush flush, StreamOptions options,
                 ConnectionLimits& limits)
    : server_(server), outbox_(outbox), flush_(std::move(flush)), options_(options), limits_(limits),
      plain_(kMaxRecord), padded_(kMaxRecord) {}

DtlsHub::~DtlsHub() { close_all(); }

void DtlsHub::add_socket(int fd) { listeners_.push_back(std::make_unique<Listener>(fd)); }

void DtlsHub::on_datagram(const turn::Now& now, std::size_t index, const Endpoint& from, const std::byte* data,
                          std::size_t size) {
  const turn::FiveTuple tuple{static_cast<std::uint16_t>(turn::kDtlsListenerBase + index), from};
  if (auto it = sessions_.find(tuple); it != sessions_.end()) {
    Session& s = *it->second;
    s.link->rx = data;
    s.link->rx_len = size;
    s.last_rx = now.mono;
    return run(s, now);
  }
  // Only a handshake record (content type 22) can start a session.
  if (!ctx_ || size < 13 || std::to_integer<unsigned>(data[0]) != 22) return;
  Listener& l = *listeners_[index];
  if (l.ssl == nullptr || SSL_get_SSL_CTX(l.ssl) != ctx_.get()) l.reset(ctx_.get());
  if (l.ssl == nullptr) return;
  l.link->set_peer(from);
  l.link->rx = data;
  l.link->rx_len = size;
  BIO_ADDR* ignored = BIO_ADDR_new();
  const int r = DTLSv1_listen(l.ssl, ignored);
  BIO_ADDR_free(ignored);
  l.link->rx = nullptr;
  if (r <= 0) {  // answered with a cookie, or not a ClientHello: nothing kept
    ERR_clear_error();
    if (r < 0) l.reset(ctx_.get());
    return;
  }
  // The client echoed our cookie: it receives at its address. Now it may hold state.
  if (!limits_.acquire(from.ip)) {
    ++counters_.refused;
    l.reset(ctx_.get());
    return;
  }
  ++counters_.accepted;
  auto s = std::make_unique<Session>();
  s->tuple = tuple;
  s->link = std::move(l.link);
  s->ssl = l.ssl;
  s->created = s->last_rx = now.mono;
  l.ssl = nullptr;
  Session& ref = *s;
  sessions_.emplace(tuple, std::move(s));
  run(ref, now);
}

void DtlsHub::run(Session& s, const turn::Now& now) {
  for (;;) {
    const int n = SSL_read(s.ssl, plain_.data(), static_cast<int>(plain_.size()));
    if (n > 0) {
      s.established = true;
      if (outbox_.full()) flush_();
      server_.on_client_datagram(now, s.tuple.listener, s.tuple.client,
                                 Bytes{plain_.data(), static_cast<std::size_t>(n)}, outbox_);
      flush_();  // payloads point into plain_, which the next record overwrites
      continue;
    }
    const int e = SSL_get_error(s.ssl, n);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) break;
    // close_notify, or a fatal alert or error: the session ends, and its allocation with it.
    if (!SSL_is_init_finished(s.ssl)) ++counters_.handshake_failures;
    ERR_clear_error();
    s.link->rx = nullptr;
    return close(s.tuple, true);
  }
  s.link->rx = nullptr;
}

bool DtlsHub::send(const turn::Transmit& t) {
  auto it = sessions_.find(turn::FiveTuple{static_cast<std::uint16_t>(t.socket), t.to});
  if (it == sessions_.end() || !SSL_is_init_finished(it->second->ssl)) return false;
  const std::byte* data = t.data;
  std::size_t size = t.size;
  if (std::size_t pad = options_.padding.pad_for(size); pad > 0 && size + pad + 4 <= padded_.size()) {
    if (stun::first_byte_is_channel_data(data[0])) {
      // RFC 8656 §12.5: bytes after the Length field's end; the receiver ignores them.
      std::memcpy(padded_.data(), data, size);
      std::memset(padded_.data() + size, 0, pad);
      data = padded_.data();
      size += pad;
      counters_.padding_bytes += pad;
    } else if (size >= stun::kHeaderSize &&
               load_u16(data) == stun::message_type(stun::Method::data, stun::Class::indication)) {
      // A Data indication grows by a comprehension-optional attribute, in 4-byte steps (its
      // own 4-byte header counts). Other STUN messages carry integrity and stay as they are.
      pad = std::max<std::size_t>(4, (pad + 3) & ~std::size_t{3});
      std::memcpy(padded_.data(), data, size);
      std::byte* a = padded_.data() + size;
      store_u16(a, kPaddingAttribute);
      store_u16(a + 2, static_cast<std::uint16_t>(pad - 4));
      std::memset(a + 4, 0, pad - 4);
      store_u16(padded_.data() + 2, static_cast<std::uint16_t>(load_u16(data + 2) + pad));
      data = padded_.data();
      size += pad;
      counters_.padding_bytes += pad;
    }
  }
  if (SSL_write(it->second->ssl, data, static_cast<int>(size)) <= 0) {
    ERR_clear_error();
    ++counters_.slow_reader_drops;
    return false;
  }
  return true;
}

void DtlsHub::on_tick(const turn::Now& now) {
  std::vector<turn::FiveTuple> expired;
  for (auto& [tuple, s] : sessions_) {
    if (!SSL_is_init_finished(s->ssl)) DTLSv1_handle_timeout(s->ssl);  // retransmit a lost flight
    const bool late = !s->established && now.mono - s->created >= options_.handshake_timeout;
    if (late || now.mono - s->last_rx >= options_.idle_timeout) expired.push_back(tuple);
  }
  ERR_clear_error();
  for (const auto& t : expired) {
    ++counters_.closed_idle;
    close(t, true);
  }
}

void DtlsHub::close(const turn::FiveTuple& t, bool notify) {
  auto it = sessions_.find(t);
  if (it == sessions_.end()) return;
  std::unique_ptr<Session> s = std::move(it->second);
  sessions_.erase(it);
  if (SSL_is_init_finished(s->ssl)) SSL_shutdown(s->ssl);  // close_notify, best effort
  ERR_clear_error();
  limits_.release(t.client.ip);
  if (notify && !closing_) server_.on_stream_closed(t);
}

void DtlsHub::close_all() {
  closing_ = true;
  std::vector<turn::FiveTuple> all;
  for (auto& [t, s] : sessions_) all.push_back(t);
  for (const auto& t : all) close(t, false);
}

}  // namespace hush::net
