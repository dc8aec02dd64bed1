#include "hush/net/relay_ports.hpp"

#include <unistd.h>

#include "hush/net/udp_socket.hpp"

namespace hush::net {

RelayPorts::RelayPorts(RelayPortsConfig config, policy::RelayPortRegistry& in_use, std::function<void(int)> on_open,
                       std::function<void(int)> on_close)
    : config_(std::move(config)),
      on_open_(std::move(on_open)),
      on_close_(std::move(on_close)),
      in_use_(in_use),
      rng_(std::random_device{}()) {}

// The worker owns the descriptors (it wraps each in an Asio socket) and closes them.
RelayPorts::~RelayPorts() = default;

bool RelayPorts::mine(std::uint16_t port) const {
  return port >= config_.port_min && port <= config_.port_max &&
         (static_cast<unsigned>(port) / 2) % config_.worker_count == config_.worker_index;
}

std::optional<turn::RelaySocket> RelayPorts::bind_port(Family family, std::uint16_t port, bool df, bool watch_it) {
  const auto& ip = family == Family::v4 ? config_.relay_v4 : config_.relay_v6;
  if (!ip) return std::nullopt;
  auto fd = open_udp(Endpoint{*ip, port}, UdpOptions{false, df, 0, 0});
  if (!fd) return std::nullopt;
  in_use_.set_live(family, port, true);
  turn::RelaySocket s{static_cast<std::uint32_t>(*fd), Endpoint{*ip, port}};
  if (watch_it) watch(s);
  return s;
}

void RelayPorts::watch(const turn::RelaySocket& s) {
  if (fds_.size() <= s.handle) fds_.resize(s.handle + 1);
  fds_[s.handle] = s;
  ++open_count_;
  on_open_(static_cast<int>(s.handle));
}

template <class Try>
std::optional<std::uint16_t> RelayPorts::scan(Family family, bool even, Try try_port) {
  const unsigned lo = config_.port_min;
  const unsigned span = static_cast<unsigned>(config_.port_max) - lo + 1;
  const unsigned start = static_cast<unsigned>(rng_()) % span;
  for (unsigned i = 0; i < span; ++i) {
    const auto port = static_cast<std::uint16_t>(lo + (start + i) % span);
    if (!mine(port) || in_use_.is_live(family, port) || (even && port % 2 != 0)) continue;
    if (try_port(port)) return port;
  }
  return std::nullopt;
}

std::optional<turn::RelaySocket> RelayPorts::open(Family family, bool even, bool df) {
  std::optional<turn::RelaySocket> result;
  scan(family, even, [&](std::uint16_t port) {
    result = bind_port(family, port, df, true);
    return result.has_value();
  });
  return result;
}

std::optional<std::pair<turn::RelaySocket, turn::RelaySocket>> RelayPorts::open_pair(Family family, bool df) {
  std::optional<std::pair<turn::RelaySocket, turn::RelaySocket>> result;
  scan(family, true, [&](std::uint16_t port) {
    if (port == 65535 || port + 1 > config_.port_max || in_use_.is_live(family, static_cast<std::uint16_t>(port + 1)))
      return false;
    auto first = bind_port(family, port, df, true);
    if (!first) return false;
    auto second = bind_port(family, static_cast<std::uint16_t>(port + 1), df, false);
    if (!second) {
      close(first->handle);
      return false;
    }
    result.emplace(*first, *second);
    return true;
  });
  return result;
}

std::optional<turn::RelaySocket> RelayPorts::open_tcp_listener(Family family) {
  const auto& ip = family == Family::v4 ? config_.relay_v4 : config_.relay_v6;
  if (!ip) return std::nullopt;
  std::optional<turn::RelaySocket> result;
  scan(family, false, [&](std::uint16_t port) {
    auto fd = open_tcp(Endpoint{*ip, port}, 64);
    if (!fd) return false;
    in_use_.set_live(family, port, true);
    result = turn::RelaySocket{static_cast<std::uint32_t>(*fd), Endpoint{*ip, port}};
    return true;
  });
  return result;
}

void RelayPorts::adopt(const turn::RelaySocket& reserved) { watch(reserved); }

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
