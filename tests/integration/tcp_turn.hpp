// A blocking TURN client over one TCP connection, for integration tests over real sockets.
#pragma once

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "hush/net/udp_socket.hpp"
#include "hush/stun/channel_data.hpp"
#include "../support/stun_messages.hpp"

namespace hush::test {

// A blocking TCP connection to 127.0.0.1:port that speaks RFC 8656 stream framing.
class TcpTurn {
 public:
  explicit TcpTurn(std::uint16_t port, bool v6 = false) {
    fd_ = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
    sockaddr_storage ss{};
    const socklen_t len = net::to_sockaddr(*Endpoint::parse((v6 ? "[::1]:" : "127.0.0.1:") + std::to_string(port)), ss);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&ss), len) != 0) throw std::runtime_error("connect");
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  // An already connected socket (a peer's, from accept()); closed with this object.
  struct Adopt {};
  TcpTurn(Adopt, int fd) : fd_(fd) {}
  ~TcpTurn() { ::close(fd_); }
  TcpTurn(const TcpTurn&) = delete;
  TcpTurn& operator=(const TcpTurn&) = delete;
  Endpoint local() const {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&ss), &len);
    return net::from_sockaddr(ss);
  }
  Endpoint remote() const {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    ::getpeername(fd_, reinterpret_cast<sockaddr*>(&ss), &len);
    return net::from_sockaddr(ss);
  }
  int fd() const { return fd_; }
  void send_raw(Bytes b) {
    for (std::size_t sent = 0; sent < b.size();) {
      const ssize_t n = ::send(fd_, b.data() + sent, b.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return;
      sent += static_cast<std::size_t>(n);
    }
  }
  void send_raw(std::string_view s) { send_raw(as_bytes(s)); }
  // One frame, or nullopt on timeout or a closed connection.
  std::optional<std::vector<std::byte>> read_frame(std::chrono::milliseconds timeout = std::chrono::seconds(2)) {
    auto head = read_exact(4, timeout);
    if (!head) return std::nullopt;
    std::size_t len = load_u16(head->data() + 2);
    std::size_t total = stun::first_byte_is_stun((*head)[0]) ? 20 + len : ((4 + len + 3) & ~std::size_t{3});
    auto rest = read_exact(total - 4, timeout);
    if (!rest) return std::nullopt;
    head->insert(head->end(), rest->begin(), rest->end());
    if (!stun::first_byte_is_stun((*head)[0])) head->resize(4 + len);  // drop the padding
    return head;
  }
  // True once the relay has closed the connection (read returns 0 or an error).
  bool closed_by_peer(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    char buf[4096];
    for (auto now = std::chrono::steady_clock::now(); now < deadline; now = std::chrono::steady_clock::now()) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count();
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(std::min<long>(50, left + 1))) <= 0) continue;
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return true;
    }
    return false;
  }
  // Allocate (with the 401 round): a UDP relayed address, or with protocol 6 an RFC 6062 TCP one.
  bool allocate(const std::string& user, const std::string& password, bool v6 = false, std::uint8_t protocol = 17) {
    auto attrs = [v6, protocol](stun::MessageBuilder& b) {
      b.add_u32(stun::attr::requested_transport, std::uint32_t{protocol} << 24);
      if (v6) b.add_u32(stun::attr::requested_address_family, 0x02u << 24);
    };
    auto first = transact(stun::Method::allocate, attrs, nullptr);
    if (!first) return false;
    auto v = stun::MessageView::parse(*first);
    LongTermAuth a{user, std::string(*v->find_text(stun::attr::realm)), std::string(*v->find_text(stun::attr::nonce)),
                   password};
    auth_ = a;
    auto r = transact(stun::Method::allocate, attrs, &auth_);
    if (!r) return false;
    auto m = stun::MessageView::parse(*r);
    if (m->has(stun::attr::error_code)) return false;
    relayed_ = *stun::decode_xor_address(*m->find(stun::attr::xor_relayed_address), m->transaction_id_ptr());
    return true;
  }
  bool bind_channel(std::uint16_t channel, const Endpoint& peer) {
    auto r = transact(stun::Method::channel_bind, [&](stun::MessageBuilder& b) {
      b.add_u32(stun::attr::channel_number, std::uint32_t{channel} << 16);
      b.add_xor_address(stun::attr::xor_peer_address, peer);
    }, &auth_);
    return r && !stun::MessageView::parse(*r)->has(stun::attr::error_code);
  }
  Endpoint relayed() const { return relayed_; }
  // The credentials (and nonce) of the last allocate(); a data connection presents them too.
  const LongTermAuth& credentials() const { return auth_; }
  void use_credentials(const LongTermAuth& a) { auth_ = a; }

  // An authenticated request: its ERROR-CODE (0 for a success, -1 without an answer); the
  // answer in `answer` if given.
  int request(stun::Method m, const std::function<void(stun::MessageBuilder&)>& f,
              std::vector<std::byte>* answer = nullptr) {
    auto r = transact(m, f, &auth_);
    if (!r) return -1;
    auto v = stun::MessageView::parse(*r);
    if (!v) return -1;
    if (answer != nullptr) *answer = *r;
    auto e = v->find(stun::attr::error_code);
    if (!e || e->size() < 4) return 0;
    return std::to_integer<int>((*e)[2]) * 100 + std::to_integer<int>((*e)[3]);
  }
  bool create_permission(const Endpoint& peer) {
    return request(stun::Method::create_permission,
                   [&](stun::MessageBuilder& b) { b.add_xor_address(stun::attr::xor_peer_address, peer); }) == 0;
  }

  std::optional<std::vector<std::byte>> transact(stun::Method m, const std::function<void(stun::MessageBuilder&)>& f,
                                                 const LongTermAuth* a) {
    send_raw(build(m, stun::Class::request, random_tid(), f, a));
    return read_frame();
  }
  // Exactly n bytes, or nullopt on timeout or a closed connection.
  std::optional<std::vector<std::byte>> read_exact(std::size_t n, std::chrono::milliseconds timeout) {
    std::vector<std::byte> out(n);
    std::size_t got = 0;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (got < n) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return std::nullopt;
      const ssize_t r = ::recv(fd_, out.data() + got, n - got, 0);
      if (r <= 0) return std::nullopt;
      got += static_cast<std::size_t>(r);
    }
    return out;
  }

 private:
  int fd_;
  LongTermAuth auth_;
  Endpoint relayed_;
};

}  // namespace hush::test
