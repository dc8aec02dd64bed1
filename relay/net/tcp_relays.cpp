#include "hush/net/tcp_relays.hpp"

#include <unistd.h>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "hush/auth/secret_set.hpp"
#include "hush/net/udp_socket.hpp"
#include "accept_retry.hpp"

namespace hush::net {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {
// How long an outbound connection may take before the Connect gets 447.
constexpr auto kConnectTimeout = std::chrono::seconds(30);

tcp::endpoint to_asio(const Endpoint& ep) { return {asio::ip::make_address(ep.ip.to_string()), ep.port}; }
tcp protocol_of(const Endpoint& ep) { return ep.ip.is_v4() ? tcp::v4() : tcp::v6(); }
}  // namespace

// ---- the registry -------------------------------------------------------------------------

TcpConnectionRegistry::TcpConnectionRegistry() {
  std::uint32_t seed;
  auth::random_bytes(&seed, sizeof seed);
  rng_.seed(seed);
}

TcpConnectionRegistry::~TcpConnectionRegistry() {
  for (auto& [id, e] : entries_)
    if (e.fd >= 0) ::close(e.fd);
}

std::uint32_t TcpConnectionRegistry::create(std::string username) {
  std::lock_guard lock(mutex_);
  std::uint32_t id;
  do id = static_cast<std::uint32_t>(rng_()); while (id == 0 || entries_.contains(id));
  entries_[id].username = std::move(username);
  return id;
}

bool TcpConnectionRegistry::ready(std::uint32_t id, int fd, Clock::time_point deadline) {
  {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(id);
    if (it != entries_.end() && !it->second.bound && it->second.fd < 0) {
      it->second.fd = fd;
      it->second.deadline = deadline;
      return true;
    }
  }
  ::close(fd);
  return false;
}

std::optional<int> TcpConnectionRegistry::claim(std::uint32_t id, std::string_view username, Closer closer) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(id);
  if (it == entries_.end() || it->second.fd < 0 || it->second.username != username) return std::nullopt;
  Entry& e = it->second;
  const int fd = e.fd;
  e.fd = -1;
  e.bound = true;
  e.deadline = Clock::time_point::max();
  e.closer = std::move(closer);
  return fd;
}

void TcpConnectionRegistry::close(std::uint32_t id) {
  Closer closer;
  {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(id);
    if (it == entries_.end()) return;
    if (it->second.fd >= 0) ::close(it->second.fd);
    closer = std::move(it->second.closer);
    entries_.erase(it);
  }
  if (closer) closer();
}

void TcpConnectionRegistry::ended(std::uint32_t id) {
  std::lock_guard lock(mutex_);
  entries_.erase(id);
}

bool TcpConnectionRegistry::alive(std::uint32_t id) const {
  std::lock_guard lock(mutex_);
  return entries_.contains(id);
}

void TcpConnectionRegistry::expire(Clock::time_point now) {
  std::lock_guard lock(mutex_);
  std::erase_if(entries_, [&](const auto& kv) {
    const Entry& e = kv.second;
    if (e.fd < 0 || e.deadline > now) return false;
    ::close(e.fd);
    return true;
  });
}

std::size_t TcpConnectionRegistry::size() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

// ---- one worker's TCP relays -------------------------------------------------------------

struct TcpRelays::Listener {
  tcp::acceptor acceptor;
  turn::RelaySocket socket;
  std::string username;
  asio::steady_timer retry;  // after a failure for want of descriptors (accept_retry.hpp)
  Listener(asio::io_context& io, const turn::RelaySocket& s, std::string user)
      : acceptor(io, protocol_of(s.local), static_cast<int>(s.handle)),
        socket(s),
        username(std::move(user)),
        retry(io) {}
};

struct TcpRelays::Attempt {
  tcp::socket socket;
  asio::steady_timer timer;
  bool done = false;
  explicit Attempt(asio::io_context& io) : socket(io), timer(io) {}
};

TcpRelays::TcpRelays(asio::io_context& io, RelayPorts& ports, TcpConnectionRegistry& registry, StreamHub& streams,
                     turn::Server& server, turn::Outbox& outbox, Flush flush, Clock now)
    : io_(io), ports_(ports), registry_(registry), streams_(streams), server_(server), outbox_(outbox),
      flush_(std::move(flush)), now_(std::move(now)) {}

TcpRelays::~TcpRelays() { close_all(); }

std::optional<turn::RelaySocket> TcpRelays::listen(Family family, std::string_view username) {
  auto s = ports_.open_tcp_listener(family);
  if (!s) return std::nullopt;
  auto l = std::make_shared<Listener>(io_, *s, std::string(username));
  listeners_[s->handle] = l;
  accept(l);
  return s;
}

void TcpRelays::accept(const std::shared_ptr<Listener>& l) {
  l->acceptor.async_accept([this, l](const boost::system::error_code& ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !l->acceptor.is_open()) return;
    if (!ec) {
      boost::system::error_code e2;
      const auto from = socket.remote_endpoint(e2);
      if (!e2) {
        const Endpoint peer{*IpAddress::parse(from.address().to_string()), from.port()};
        // §5.4: not read until a ConnectionBind claims it; the kernel holds what the peer sends.
        const std::uint32_t id = registry_.create(l->username);
        registry_.ready(id, socket.release(e2), std::chrono::steady_clock::now() + turn::kTcpBindTimeout);
        if (!server_.on_tcp_peer(now_(), l->socket.handle, peer, id, outbox_)) registry_.close(id);
        flush_();
      }
    }
    accept_again(ec, l->retry, [this, l] {
      if (l->acceptor.is_open()) accept(l);
    });
  });
}

void TcpRelays::close_listener(std::uint32_t handle) {
  auto it = listeners_.find(handle);
  if (it == listeners_.end()) return;
  boost::system::error_code ignored;
  it->second->acceptor.close(ignored);
  it->second->retry.cancel();
  ports_.release_tcp(it->second->socket.local);
  listeners_.erase(it);
}

std::optional<std::uint32_t> TcpRelays::connect(std::uint32_t handle, const Endpoint& peer, std::string_view username) {
  auto l = listeners_.find(handle);
  if (l == listeners_.end()) return std::nullopt;
  // §5.2: from the relayed transport address itself (the listener shares it by SO_REUSEPORT).
  auto fd = open_tcp(l->second->socket.local, 0);
  if (!fd) return std::nullopt;
  auto attempt = std::make_shared<Attempt>(io_);
  boost::system::error_code ec;
  attempt->socket.assign(protocol_of(peer), *fd, ec);
  if (ec) {
    ::close(*fd);
    return std::nullopt;
  }
  const std::uint32_t id = registry_.create(std::string(username));
  attempts_[id] = attempt;
  attempt->timer.expires_after(kConnectTimeout);
  attempt->timer.async_wait([this, id, attempt](const boost::system::error_code& e) {
    if (!e && !attempt->done) finish(id, false);
  });
  attempt->socket.async_connect(to_asio(peer), [this, id, attempt](const boost::system::error_code& e) {
    if (e == asio::error::operation_aborted || attempt->done) return;
    finish(id, !e);
  });
  return id;
}

void TcpRelays::finish(std::uint32_t id, bool ok) {
  auto it = attempts_.find(id);
  if (it == attempts_.end()) return;
  auto attempt = it->second;
  attempts_.erase(it);
  attempt->done = true;
  attempt->timer.cancel();
  boost::system::error_code ignored;
  if (ok) {
    ok = registry_.ready(id, attempt->socket.release(ignored), std::chrono::steady_clock::now() + turn::kTcpBindTimeout);
  } else {
    attempt->socket.close(ignored);
  }
  server_.on_tcp_connected(now_(), id, ok, outbox_);  // closes the registry entry when !ok
  flush_();
}

bool TcpRelays::bind(const turn::FiveTuple& data, std::uint32_t id, std::string_view username) {
  auto fd = registry_.claim(id, username, [io = &io_, streams = &streams_, id] {
    asio::post(*io, [streams, id] { streams->close_splice(id); });
  });
  if (!fd) return false;
  if (!streams_.splice(data, *fd, id)) {
    registry_.close(id);  // the closer finds no splice on this worker: nothing more to do
    return false;
  }
  return true;
}

void TcpRelays::close_connection(std::uint32_t id) {
  if (auto it = attempts_.find(id); it != attempts_.end()) {
    it->second->done = true;
    it->second->timer.cancel();
    boost::system::error_code ignored;
    it->second->socket.close(ignored);
    attempts_.erase(it);
  }
  registry_.close(id);
}

void TcpRelays::close_all() {
  for (auto& [id, a] : attempts_) {
    a->done = true;
    a->timer.cancel();
    boost::system::error_code ignored;
    a->socket.close(ignored);
    registry_.close(id);
  }
  attempts_.clear();
  for (auto& [h, l] : listeners_) {
    boost::system::error_code ignored;
    l->acceptor.close(ignored);
    l->retry.cancel();
    ports_.release_tcp(l->socket.local);
  }
  listeners_.clear();
}

}  // namespace hush::net
