// hush-stream-ceiling: hush-ceiling for TCP, TLS and DTLS legs. No TURN logic: one thread,
// epoll, the clients' connections (or DTLS sessions) and one peer-facing UDP socket. ChannelData
// from a client loses its header (and, on streams, its padding) and goes to peer
// (channel - 0x4000); what a peer sends back gets the header again and goes to the connection
// that sent that allocation's probes (bytes 4-7 of the payload name it). TLS and DTLS use
// hush's OpenSSL settings (TLS 1.3 only or DTLS 1.2, ECDHE with AES-GCM or ChaCha20, no
// renegotiation), with --block-padding as hush's --padding block:N pads TLS records; what is
// left out is everything a relay does besides: authentication, permissions, allocations,
// quotas, timers. hush-streamgen --ceiling drives it.
//
//   hush-stream-ceiling --transport tls --listen 127.0.0.1:5350 --cert C --key K --peer-port 20100 --peers 64
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "hush/base/bytes.hpp"
#include "hush/net/udp_socket.hpp"
#include "hush/stun/channel_data.hpp"

using namespace hush;

namespace {

volatile std::sig_atomic_t g_stop = 0;
enum class Transport { tcp, tls, dtls };

struct Conn {
  int fd = -1;            // streams: the connection; DTLS: the listening socket
  SSL* ssl = nullptr;
  sockaddr_storage addr{};  // DTLS: the client
  socklen_t addr_len = 0;
  std::vector<std::byte> in;
  std::size_t in_len = 0;
  std::vector<std::byte> out;  // streams: bytes not yet taken
};

class Ceiling {
 public:
  Ceiling(Transport t, SSL_CTX* ctx, int peer_fd, std::uint16_t peer_port, std::size_t peers, const IpAddress& peer_ip)
      : t_(t), ctx_(ctx), peer_fd_(peer_fd), peer_port_(peer_port) {
    for (std::size_t i = 0; i < peers; ++i) {
      sockaddr_storage a{};
      const socklen_t len = net::to_sockaddr(Endpoint{peer_ip, static_cast<std::uint16_t>(peer_port + i)}, a);
      peer_addr_.push_back(a);
      peer_len_.push_back(len);
    }
    by_alloc_.assign(1 << 16, nullptr);
  }

  // Streams: a new connection.
  Conn* add_stream(int fd) {
    auto c = std::make_unique<Conn>();
    c->fd = fd;
    if (ctx_ != nullptr) {
      c->ssl = SSL_new(ctx_);
      SSL_set_fd(c->ssl, fd);
      SSL_set_accept_state(c->ssl);
    }
    conns_.push_back(std::move(c));
    return conns_.back().get();
  }

  // Streams: what arrived on `c`. False when it closed.
  bool read_stream(Conn& c) {
    if (c.in.size() < 65536) c.in.resize(65536);
    while (true) {
      int r;
      if (c.ssl != nullptr) {
        r = SSL_read(c.ssl, c.in.data() + c.in_len, static_cast<int>(c.in.size() - c.in_len));
        if (r <= 0) {
          const int e = SSL_get_error(c.ssl, r);
          ERR_clear_error();
          flush(c);  // the handshake's own records
          return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE;
        }
      } else {
        r = static_cast<int>(::recv(c.fd, c.in.data() + c.in_len, c.in.size() - c.in_len, MSG_DONTWAIT));
        if (r == 0) return false;
        if (r < 0) return errno == EAGAIN || errno == EWOULDBLOCK;
      }
      c.in_len += static_cast<std::size_t>(r);
      std::size_t at = 0;
      while (c.in_len - at >= 4) {
        const std::size_t len = 4 + load_u16(c.in.data() + at + 2);
        const std::size_t padded = (len + 3) & ~std::size_t{3};
        if (c.in_len - at < padded) break;
        to_peer(c, Bytes(c.in.data() + at, len));
        at += padded;
      }
      std::memmove(c.in.data(), c.in.data() + at, c.in_len - at);
      c.in_len -= at;
    }
  }

  // DTLS: a datagram from `from` on the listening socket `fd`.
  void on_datagram(int fd, const sockaddr_storage& from, socklen_t from_len, const std::byte* d, std::size_t n) {
    const std::string key(reinterpret_cast<const char*>(&from), from_len);
    auto it = sessions_.find(key);
    if (it == sessions_.end()) {
      auto c = std::make_unique<Conn>();
      c->fd = fd;
      c->addr = from;
      c->addr_len = from_len;
      c->ssl = SSL_new(ctx_);
      BIO* rbio = BIO_new(BIO_s_mem());
      BIO* wbio = BIO_new(BIO_s_mem());
      BIO_set_mem_eof_return(rbio, -1);
      BIO_set_mem_eof_return(wbio, -1);
      SSL_set_bio(c->ssl, rbio, wbio);
      SSL_set_mtu(c->ssl, 1400);
      SSL_set_accept_state(c->ssl);
      it = sessions_.emplace(key, std::move(c)).first;
    }
    Conn& c = *it->second;
    BIO_write(SSL_get_rbio(c.ssl), d, static_cast<int>(n));
    std::byte rec[2048];
    int r;
    while ((r = SSL_read(c.ssl, rec, sizeof rec)) > 0) to_peer(c, Bytes(rec, static_cast<std::size_t>(r)));
    const int e = SSL_get_error(c.ssl, r);
    ERR_clear_error();
    drain_dtls(c);
    if (e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SSL) {  // close_notify, or a broken session
      for (auto& slot : by_alloc_)
        if (slot == &c) slot = nullptr;
      SSL_free(c.ssl);
      sessions_.erase(it);
    }
  }

  // A datagram from an echo peer: back to the connection that sent its allocation's probes.
  void from_peer(const sockaddr_storage& from, std::byte* p, std::size_t len) {
    if (len < 8) return;
    Conn* c = by_alloc_[load_u32(p + 4) & 0xFFFF];
    if (c == nullptr) return;
    const auto port = net::from_sockaddr(from).port;
    std::byte frame[2048 + 8];
    stun::write_channel_header(frame, static_cast<std::uint16_t>(0x4000 + (port - peer_port_)),
                               static_cast<std::uint16_t>(len));
    std::memcpy(frame + 4, p, len);
    std::size_t total = 4 + len;
    if (t_ != Transport::dtls) {
      const std::size_t padded = (total + 3) & ~std::size_t{3};
      std::memset(frame + total, 0, padded - total);
      total = padded;
    }
    if (t_ == Transport::dtls) {
      SSL_write(c->ssl, frame, static_cast<int>(total));
      ERR_clear_error();
      drain_dtls(*c);
      return;
    }
    if (c->out.size() > 256 * 1024) return;  // a reader that does not keep up loses packets, as in hush
    c->out.insert(c->out.end(), frame, frame + total);
    flush(*c);
  }

  void flush(Conn& c) {
    while (!c.out.empty()) {
      int r;
      if (c.ssl != nullptr) {
        r = SSL_write(c.ssl, c.out.data(), static_cast<int>(c.out.size()));
        if (r <= 0) {
          ERR_clear_error();
          return;
        }
      } else {
        r = static_cast<int>(::send(c.fd, c.out.data(), c.out.size(), MSG_DONTWAIT | MSG_NOSIGNAL));
        if (r <= 0) return;
      }
      c.out.erase(c.out.begin(), c.out.begin() + r);
    }
  }

  void flush_all() {
    for (auto& c : conns_)
      if (!c->out.empty()) flush(*c);
  }

  void remove(Conn* c) {
    for (auto& slot : by_alloc_)
      if (slot == c) slot = nullptr;
    if (c->ssl != nullptr) SSL_free(c->ssl);
    ::close(c->fd);
    std::erase_if(conns_, [c](const std::unique_ptr<Conn>& p) { return p.get() == c; });
  }

 private:
  void to_peer(Conn& c, Bytes frame) {
    auto cd = stun::parse_channel_data(frame);
    if (!cd || cd->payload.size() < 8 || peer_addr_.empty()) return;
    const std::size_t peer = (cd->channel - 0x4000u) % peer_addr_.size();
    by_alloc_[load_u32(cd->payload.data() + 4) & 0xFFFF] = &c;
    ::sendto(peer_fd_, cd->payload.data(), cd->payload.size(), MSG_DONTWAIT,
             reinterpret_cast<const sockaddr*>(&peer_addr_[peer]), peer_len_[peer]);
  }

  void drain_dtls(Conn& c) {
    std::byte rec[16384];
    int n;
    while ((n = BIO_read(SSL_get_wbio(c.ssl), rec, sizeof rec)) > 0)
      ::sendto(c.fd, rec, static_cast<std::size_t>(n), MSG_DONTWAIT, reinterpret_cast<const sockaddr*>(&c.addr),
               c.addr_len);
  }

  Transport t_;
  SSL_CTX* ctx_;
  int peer_fd_;
  std::uint16_t peer_port_;
  std::vector<sockaddr_storage> peer_addr_;
  std::vector<socklen_t> peer_len_;
  std::vector<Conn*> by_alloc_;
  std::vector<std::unique_ptr<Conn>> conns_;
  std::map<std::string, std::unique_ptr<Conn>> sessions_;
};

}  // namespace

int main(int argc, char** argv) {
  std::string transport = "tls", listen = "127.0.0.1:5350", cert, key, peer_host;
  std::uint16_t peer_port = 20100;
  std::size_t peers = 16, block_padding = 0;
  CLI::App app{"hush-stream-ceiling: a bare ChannelData forwarder over TCP, TLS or DTLS"};
  app.add_option("--transport", transport, "tcp, tls or dtls")->capture_default_str();
  app.add_option("--listen", listen)->capture_default_str();
  app.add_option("--cert", cert, "PEM certificate (TLS, DTLS)");
  app.add_option("--key", key, "PEM private key (TLS, DTLS)");
  app.add_option("--block-padding", block_padding, "Pad TLS records to a multiple of this many bytes (0: none)")
      ->capture_default_str();
  app.add_option("--peer-port", peer_port)->capture_default_str();
  app.add_option("--peers", peers)->capture_default_str();
  app.add_option("--peer-host", peer_host, "The echo peers' address (default: the listening address)");
  CLI11_PARSE(app, argc, argv);
  Transport t = transport == "tcp" ? Transport::tcp : transport == "dtls" ? Transport::dtls : Transport::tls;
  auto ep = Endpoint::parse(listen);
  const auto peer_ip = peer_host.empty() ? (ep ? std::optional<IpAddress>(ep->ip) : std::nullopt) : IpAddress::parse(peer_host);
  if (!ep || !peer_ip || (transport != "tcp" && transport != "tls" && transport != "dtls") ||
      (t != Transport::tcp && (cert.empty() || key.empty()))) {
    std::fprintf(stderr, "hush-stream-ceiling: need --listen IP:PORT, --transport tcp|tls|dtls, --cert and --key for TLS and DTLS\n");
    return 2;
  }
  std::signal(SIGTERM, [](int) { g_stop = 1; });
  std::signal(SIGINT, [](int) { g_stop = 1; });
  std::signal(SIGPIPE, SIG_IGN);

  SSL_CTX* ctx = nullptr;
  if (t != Transport::tcp) {
    ctx = SSL_CTX_new(t == Transport::tls ? TLS_server_method() : DTLS_server_method());
    SSL_CTX_set_min_proto_version(ctx, t == Transport::tls ? TLS1_3_VERSION : DTLS1_2_VERSION);
    SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20");
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 (t == Transport::dtls ? SSL_OP_NO_QUERY_MTU : 0));
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (t == Transport::tls) SSL_CTX_set_read_ahead(ctx, 1);  // as hush: one read() per record
    if (SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1) {
      std::fprintf(stderr, "hush-stream-ceiling: cannot load %s or %s\n", cert.c_str(), key.c_str());
      return 2;
    }
    if (t == Transport::tls && block_padding > 0) SSL_CTX_set_block_padding(ctx, block_padding);
  }
  auto peer_fd = net::open_udp(Endpoint{ep->ip, 0}, net::UdpOptions{false, false, 8 << 20, 8 << 20});
  int listen_fd = -1;
  if (t == Transport::dtls) {
    auto fd = net::open_udp(*ep, net::UdpOptions{false, false, 8 << 20, 8 << 20});
    listen_fd = fd ? *fd : -1;
  } else {
    listen_fd = ::socket(ep->ip.is_v4() ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_NONBLOCK, 0);
    const int one = 1;
    ::setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_storage a{};
    const socklen_t len = net::to_sockaddr(*ep, a);
    if (::bind(listen_fd, reinterpret_cast<sockaddr*>(&a), len) != 0 || ::listen(listen_fd, 4096) != 0) listen_fd = -1;
  }
  if (!peer_fd || listen_fd < 0) {
    std::fprintf(stderr, "hush-stream-ceiling: cannot bind\n");
    return 2;
  }
  Ceiling ceiling(t, ctx, *peer_fd, peer_port, peers, *peer_ip);
  const int ep_fd = ::epoll_create1(0);
  epoll_event ev{EPOLLIN, {.ptr = nullptr}};
  ev.data.u64 = 0;
  ::epoll_ctl(ep_fd, EPOLL_CTL_ADD, listen_fd, &ev);
  ev.data.u64 = 1;
  ::epoll_ctl(ep_fd, EPOLL_CTL_ADD, *peer_fd, &ev);
  std::byte buf[65536];
  epoll_event events[256];
  while (!g_stop) {
    const int n = ::epoll_wait(ep_fd, events, 256, 200);
    for (int k = 0; k < n; ++k) {
      const std::uint64_t tag = events[k].data.u64;
      if (tag == 1 || (tag == 0 && t == Transport::dtls)) {  // datagrams: from the peers, or DTLS clients
        const int fd = tag == 1 ? *peer_fd : listen_fd;
        for (;;) {
          sockaddr_storage from{};
          socklen_t from_len = sizeof from;
          const ssize_t r = ::recvfrom(fd, buf, sizeof buf, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from), &from_len);
          if (r <= 0) break;
          if (tag == 1) ceiling.from_peer(from, buf, static_cast<std::size_t>(r));
          else ceiling.on_datagram(fd, from, from_len, buf, static_cast<std::size_t>(r));
        }
      } else if (tag == 0) {  // a new stream
        int fd;
        while ((fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK)) >= 0) {
          const int one = 1;
          ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          Conn* c = ceiling.add_stream(fd);
          epoll_event cev{EPOLLIN, {.ptr = c}};
          ::epoll_ctl(ep_fd, EPOLL_CTL_ADD, fd, &cev);
        }
      } else {
        Conn* c = static_cast<Conn*>(events[k].data.ptr);
        if (!ceiling.read_stream(*c)) {
          ::epoll_ctl(ep_fd, EPOLL_CTL_DEL, c->fd, nullptr);
          ceiling.remove(c);
        }
      }
    }
    ceiling.flush_all();
  }
  return 0;
}
