// RFC 6062 TCP allocations on real sockets. TcpRelays (one per worker) holds the relayed TCP
// listeners and the outbound connections of that worker's allocations; TcpConnectionRegistry
// (one per process) holds each peer connection from the moment it is established until a
// ConnectionBind claims it, because the client's data connection may be accepted by any
// worker (SO_REUSEPORT). The claiming worker splices the two; the connection then lives there.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "hush/net/relay_ports.hpp"
#include "hush/net/streams.hpp"
#include "hush/turn/server.hpp"
#include "hush/turn/tcp_relay.hpp"

namespace hush::net {

// Every peer connection of the process by CONNECTION-ID (mutex; touched once per connection
// event, never per byte).
class TcpConnectionRegistry {
 public:
  using Clock = std::chrono::steady_clock;
  using Closer = std::function<void()>;  // closes a spliced connection on its worker
  TcpConnectionRegistry();
  ~TcpConnectionRegistry();
  TcpConnectionRegistry(const TcpConnectionRegistry&) = delete;
  TcpConnectionRegistry& operator=(const TcpConnectionRegistry&) = delete;

  // A new connection of an allocation of `username`, not established yet. Never 0.
  std::uint32_t create(std::string username);
  // Established: `fd` (not registered with any io_context) waits for a ConnectionBind until
  // `deadline`. False, and the fd is closed, if the connection was closed meanwhile.
  bool ready(std::uint32_t id, int fd, Clock::time_point deadline);
  // A ConnectionBind: the fd, if `id` is waiting and belongs to `username`; `closer` is how
  // close() reaches the claiming worker from then on.
  std::optional<int> claim(std::uint32_t id, std::string_view username, Closer closer);
  // From the allocation's side: closes the connection wherever it is.
  void close(std::uint32_t id);
  // From the claiming worker: its splice has ended.
  void ended(std::uint32_t id);
  bool alive(std::uint32_t id) const;
  // Closes connections nobody bound by their deadline (RFC 6062: 30 s).
  void expire(Clock::time_point now);
  std::size_t size() const;

 private:
  struct Entry {
    std::string username;
    int fd = -1;  // while waiting for a bind
    bool bound = false;
    Clock::time_point deadline = Clock::time_point::max();
    Closer closer;
  };
  mutable std::mutex mutex_;
  std::unordered_map<std::uint32_t, Entry> entries_;
  std::mt19937 rng_;
};

class TcpRelays final : public turn::TcpRelayHost {
 public:
  using Flush = std::function<void()>;
  using Clock = std::function<turn::Now()>;
  TcpRelays(boost::asio::io_context& io, RelayPorts& ports, TcpConnectionRegistry& registry, StreamHub& streams,
            turn::Server& server, turn::Outbox& outbox, Flush flush, Clock now);
  ~TcpRelays() override;

  std::optional<turn::RelaySocket> listen(Family family, std::string_view username) override;
  void close_listener(std::uint32_t handle) override;
  std::optional<std::uint32_t> connect(std::uint32_t handle, const Endpoint& peer, std::string_view username) override;
  bool bind(const turn::FiveTuple& data, std::uint32_t id, std::string_view username) override;
  void close_connection(std::uint32_t id) override;
  bool alive(std::uint32_t id) const override { return registry_.alive(id); }

  // Closes every listener and outbound attempt (shutdown).
  void close_all();

 private:
  struct Listener;
  struct Attempt;
  void accept(const std::shared_ptr<Listener>& l);
  void finish(std::uint32_t id, bool ok);

  boost::asio::io_context& io_;
  RelayPorts& ports_;
  TcpConnectionRegistry& registry_;
  StreamHub& streams_;
  turn::Server& server_;
  turn::Outbox& outbox_;
  Flush flush_;
  Clock now_;
  std::unordered_map<std::uint32_t, std::shared_ptr<Listener>> listeners_;
  std::unordered_map<std::uint32_t, std::shared_ptr<Attempt>> attempts_;  // connecting, by id
};

}  // namespace hush::net
