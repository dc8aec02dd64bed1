// Relayed UDP sockets of one worker. The relay port range is split between workers by pairs
// of ports (an even port and the next stay on one worker, for EVEN-PORT reservations), and a
// port is picked at random within the worker's share (RFC 8656 §7.2 asks for unpredictable
// ports).
#pragma once

#include <functional>
#include <optional>
#include <random>
#include <vector>

#include "hush/policy/relay_port_registry.hpp"
#include "hush/turn/port_allocator.hpp"

namespace hush::net {

struct RelayPortsConfig {
  std::optional<IpAddress> relay_v4;
  std::optional<IpAddress> relay_v6;
  std::uint16_t port_min = 49152;
  std::uint16_t port_max = 65535;
  unsigned worker_index = 0;
  unsigned worker_count = 1;
};

class RelayPorts final : public turn::RelayPortAllocator {
 public:
  // `on_open(fd)` and `on_close(fd)` let the worker start and stop reading the socket.
  // `on_open` returns false when it cannot (its epoll set refuses the descriptor: ENOMEM, or
  // ENOSPC at fs.epoll.max_user_watches); the socket is then closed, its port freed, and the
  // open fails, so the client gets 508 instead of an allocation that would never hear its
  // peers. `in_use` is shared by all workers: a reserved port may be adopted and freed by
  // another.
  RelayPorts(RelayPortsConfig config, policy::RelayPortRegistry& in_use, std::function<bool(int)> on_open,
             std::function<void(int)> on_close);
  ~RelayPorts() override;

  std::optional<turn::RelaySocket> open(Family family, bool even, bool dont_fragment) override;
  std::optional<std::pair<turn::RelaySocket, turn::RelaySocket>> open_pair(Family family,
                                                                          bool dont_fragment) override;
  bool adopt(const turn::RelaySocket& reserved) override;
  void close(std::uint32_t handle) override;
  void discard(const turn::RelaySocket& reserved) override;

  // RFC 6062: a listening TCP socket on a free port of this worker's share (the handle is
  // its fd, owned by the caller, who calls release_tcp() once it is closed).
  std::optional<turn::RelaySocket> open_tcp_listener(Family family);
  void release_tcp(const Endpoint& local) { in_use_.set_live(local.ip.family(), local.port, false); }

  std::size_t open_count() const { return open_count_; }

 private:
  bool mine(std::uint16_t port) const;
  // What one port of a scan came to: taken, try the next, or give up (the worker cannot watch
  // any socket now, so every other port would fail the same way).
  enum class Step { taken, next, stop };
  Step bind_port(Family family, std::uint16_t port, bool dont_fragment, bool watch,
                 std::optional<turn::RelaySocket>& out);
  bool watch(const turn::RelaySocket& s);
  template <class Try>
  std::optional<std::uint16_t> scan(Family family, bool even, Try try_port);

  RelayPortsConfig config_;
  std::function<bool(int)> on_open_;
  std::function<void(int)> on_close_;
  policy::RelayPortRegistry& in_use_;
  std::vector<turn::RelaySocket> fds_;  // by fd: the sockets this worker reads (port 0: none)
  std::minstd_rand rng_;
  std::size_t open_count_ = 0;
};

}  // namespace hush::net
