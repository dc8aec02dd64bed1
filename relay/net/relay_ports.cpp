#include "hush/net/relay_ports.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "hush/net/udp_socket.hpp"
#include "warn_rarely.hpp"

namespace hush::net {

RelayPorts::RelayPorts(RelayPortsConfig config, policy::RelayPortRegistry& in_use, std::function<bool(int)> on_open,
                       std::function<void(int)> on_close)
    : config_(std::move(config)),
      on_open_(std::move(on_open)),
      on_close_(std::move(on_close)),
      in_use_(in_use),
      rng_(std::random_device{}()) {}

// The worker owns the descriptors (it wraps each in an Asio socket) and closes them.
RelayPorts::~RelayPorts() = default;

namespace {

// Someone else holds the port (bind or, for TCP, listen: EADDRINUSE), or a firewall hook or
// ip_local_reserved_ports refuses it (EACCES): another port may do.
bool port_taken(const SocketError& e) { return e.code == EADDRINUSE || e.code == EACCES; }

}  // namespace

bool RelayPorts::mine(std::uint16_t port) const {
  return port >= config_.port_min && port <= config_.port_max &&
         (static_cast<unsigned>(port) / 2) % config_.worker_count == config_.worker_index;
}

RelayPorts::Step RelayPorts::bind_port(Family family, std::uint16_t port, bool df, bool watch_it,
                                       std::optional<turn::RelaySocket>& out) {
  const auto& ip = family == Family::v4 ? config_.relay_v4 : config_.relay_v6;
  if (!ip) return Step::stop;
  // ICMP errors about datagrams to peers are passed to the client (RFC 8656 §11.5).
  auto fd = open_udp(Endpoint{*ip, port}, UdpOptions{false, df, 0, 0, true});
  // A port someone else holds: try the next. Anything else (no descriptor left: EMFILE,
  // ENFILE; the address gone: EADDRNOTAVAIL) fails every other port the same way, and a
  // request must not scan 16,000 ports to learn that.
  if (!fd) {
    if (port_taken(fd.error())) return Step::next;
    static std::atomic<std::int64_t> last_warning{0};
    warn_rarely(last_warning,
                "cannot open relayed sockets (" + fd.error().message + "): allocations are refused with 508");
    return Step::stop;
  }
  turn::RelaySocket s{static_cast<std::uint32_t>(*fd), Endpoint{*ip, port}};
  if (watch_it && !watch(s)) {
    ::close(*fd);
    return Step::stop;
  }
  in_use_.set_live(family, port, true);
  out = s;
  return Step::taken;
}

bool RelayPorts::watch(const turn::RelaySocket& s) {
  if (!on_open_(static_cast<int>(s.handle))) return false;
  if (fds_.size() <= s.handle) fds_.resize(s.handle + 1);
  fds_[s.handle] = s;
  ++open_count_;
  return true;
}

template <class Try>
std::optional<std::uint16_t> RelayPorts::scan(Family family, bool even, Try try_port) {
  const unsigned lo = config_.port_min;
  const unsigned span = static_cast<unsigned>(config_.port_max) - lo + 1;
  const unsigned start = static_cast<unsigned>(rng_()) % span;
  for (unsigned i = 0; i < span; ++i) {
    const auto port = static_cast<std::uint16_t>(lo + (start + i) % span);
    if (!mine(port) || in_use_.is_live(family, port) || (even && port % 2 != 0)) continue;
    switch (try_port(port)) {
      case Step::taken: return port;
      case Step::next: break;
      case Step::stop: return std::nullopt;
    }
  }
  return std::nullopt;
}

std::optional<turn::RelaySocket> RelayPorts::open(Family family, bool even, bool df) {
  std::optional<turn::RelaySocket> result;
  scan(family, even, [&](std::uint16_t port) { return bind_port(family, port, df, true, result); });
  return result;
}

std::optional<std::pair<turn::RelaySocket, turn::RelaySocket>> RelayPorts::open_pair(Family family, bool df) {
  std::optional<std::pair<turn::RelaySocket, turn::RelaySocket>> result;
  scan(family, true, [&](std::uint16_t port) {
    if (port == 65535 || port + 1 > config_.port_max || in_use_.is_live(family, static_cast<std::uint16_t>(port + 1)))
      return Step::next;
    std::optional<turn::RelaySocket> first;
    std::optional<turn::RelaySocket> second;
    if (const Step step = bind_port(family, port, df, true, first); step != Step::taken) return step;
    if (const Step step = bind_port(family, static_cast<std::uint16_t>(port + 1), df, false, second);
        step != Step::taken) {
      close(first->handle);
      return step;
    }
    result.emplace(*first, *second);
    return Step::taken;
  });
  return result;
}

std::optional<turn::RelaySocket> RelayPorts::open_tcp_listener(Family family) {
  const auto& ip = family == Family::v4 ? config_.relay_v4 : config_.relay_v6;
  if (!ip) return std::nullopt;
  std::optional<turn::RelaySocket> result;
  scan(family, false, [&](std::uint16_t port) {
    auto fd = open_tcp(Endpoint{*ip, port}, 64);
    if (!fd) return port_taken(fd.error()) ? Step::next : Step::stop;
    in_use_.set_live(family, port, true);
    result = turn::RelaySocket{static_cast<std::uint32_t>(*fd), Endpoint{*ip, port}};
    return Step::taken;
  });
  return result;
}

bool RelayPorts::adopt(const turn::RelaySocket& reserved) {
  if (watch(reserved)) return true;
  discard(reserved);
  return false;
}

void RelayPorts::close(std::uint32_t handle) {
  if (handle >= fds_.size() || fds_[handle].local.port == 0) return;
  in_use_.set_live(fds_[handle].local.ip.family(), fds_[handle].local.port, false);
  fds_[handle] = turn::RelaySocket{};
  --open_count_;
  on_close_(static_cast<int>(handle));  // the worker closes the fd
}

void RelayPorts::discard(const turn::RelaySocket& reserved) {
  ::close(static_cast<int>(reserved.handle));
  in_use_.set_live(reserved.local.ip.family(), reserved.local.port, false);
}

}  // namespace hush::net
