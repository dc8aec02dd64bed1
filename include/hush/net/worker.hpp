// One shared-nothing worker: a thread with its own io_context, SO_REUSEPORT listeners on
// every listen address, relayed sockets and TURN state. Packets are read with recvmmsg and
// written with sendmmsg after Asio reports readiness (Asio's own examples' pattern:
// async_wait(wait_read), then the native handle). Relayed sockets are watched by an epoll
// set of the worker's own, which Asio watches as one descriptor: one wake-up serves every
// relayed socket that is ready, and what they receive leaves in one flush.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "hush/net/dtls.hpp"
#include "hush/net/event_log.hpp"
#include "hush/net/relay_ports.hpp"
#include "hush/net/streams.hpp"
#include "hush/net/tcp_relays.hpp"
#include "hush/turn/server.hpp"

namespace hush::net {

struct WorkerConfig {
  std::vector<Endpoint> listen;      // UDP and TCP
  std::vector<Endpoint> tls_listen;  // TLS, and DTLS on the same addresses' UDP side
  // RFC 5780 (--other-address): with the first listen address of its family whose IP differs,
  // it spans four UDP listeners (IPs x ports); those not in `listen` are opened for UDP only.
  std::optional<Endpoint> other_address;
  StreamOptions streams;
  RelayPortsConfig relay;
  turn::ServerOptions server;
  std::size_t batch = 32;  // datagrams per recvmmsg
  Padding udp_padding;     // --padding-udp: ChannelData to UDP clients (zeros after the message)
  bool udp_gso = true;     // --udp-gso: same-size datagrams to one address leave as one GSO send
  turn::KernelPath* kernel = nullptr;  // --kernel-fastpath, shared by all workers
  // The first worker: its listeners bind exclusively (UdpOptions::exclusive_bind), so that a
  // listen address another process holds is refused at start; the others join them.
  bool first = false;
};

class Worker {
 public:
  // Opens the listeners; throws std::runtime_error naming the address if one cannot be bound.
  // Shared with every worker: live relayed ports (peer policy), ports in use (allocator),
  // per-user quotas and EVEN-PORT reservations.
  struct Shared {
    policy::RelayPortRegistry& live_ports;
    policy::RelayPortRegistry& ports_in_use;
    turn::Quotas& quota;
    turn::ReservationTable& reservations;
    privacy::Pseudonymizer& pseudonyms;      // for log lines, with --log-pseudonyms
    const std::atomic<bool>& pseudonyms_on;
    ConnectionLimits& connections;
    TcpConnectionRegistry& tcp_connections;  // RFC 6062 peer connections waiting for a bind
  };
  Worker(WorkerConfig config, std::shared_ptr<const turn::Snapshot> snapshot, Shared shared,
         std::shared_ptr<boost::asio::ssl::context> tls = nullptr, DtlsContext dtls = nullptr);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void run();                 // on the worker's thread, until stop()
  void stop();                // from any thread
  void replace_snapshot(std::shared_ptr<const turn::Snapshot> s);  // from any thread
  // A reload, from any thread: the worker switches to both between two batches.
  void reconfigure(std::shared_ptr<const turn::Snapshot> s, const turn::ServerOptions& options);
  void set_draining(bool on);  // from any thread
  // New TLS certificate and key for connections and DTLS sessions accepted from now on (from
  // any thread).
  void set_tls_context(std::shared_ptr<boost::asio::ssl::context> tls, DtlsContext dtls);
  void set_stream_options(const StreamOptions& o);  // from any thread

  // What the worker has done and holds, copied on its own thread. From any thread; empty if
  // the worker does not answer within `timeout` (stopped, or stuck: not alive).
  struct Stats {
    turn::Counters counters;
    turn::Gauges gauges;
    double cpu_seconds = 0;  // the worker thread's CPU time: its busy time
    StreamCounters streams;       // TCP and TLS connections and DTLS sessions
    std::size_t connections = 0;  // open connections and sessions
    std::uint64_t gso_messages = 0, gso_segments = 0;  // UDP GSO sends and the datagrams in them
  };
  std::optional<Stats> stats(std::chrono::milliseconds timeout);

 private:
  struct RelaySocketState;
  struct Slot;

  void arm_listener(std::size_t index);
  void on_listener_ready(std::size_t index);
  void arm_relays();       // wait until the relayed sockets' epoll set has a ready one
  void on_relays_ready();  // one batch from each ready relayed socket, one flush for all
  // One batch each; true when the batch was full and more may be waiting.
  bool drain_listener(std::size_t index);
  bool drain_relay(RelaySocketState* state, std::uint32_t events);
  // RFC 8656 §11.5: ICMP errors waiting in a relayed socket's error queue, to the TURN core;
  // true when more may be waiting.
  bool drain_icmp(RelaySocketState* state);
  // recvmmsg into slots [first, first + count); returns datagrams received.
  int receive_batch(int fd, std::size_t first, std::size_t count);
  // One recvmmsg batch into the free slots (flushing first if fewer than `min_room` are
  // free), handed over; flushed unless `hold` (the caller flushes once it has read them all).
  // Before any datagram is handed over, `before(pass, sender's sockaddr)` is called for every
  // datagram of the batch with pass 0, then again for every one with pass 1 (cache hints, in
  // two steps; a no-op costs nothing).
  template <class Before, class Deliver>
  bool drain(int fd, std::size_t min_room, bool hold, Before before, Deliver deliver);
  void flush();
  // A GSO message the route refused, datagram by datagram; returns how many the kernel refused.
  std::size_t send_one_by_one(int fd, const msghdr& gso);
  void on_tick();
  turn::Now now() const;
  void arm_smoothing();  // --smoothing: the timer at the next allocation tick that is due
  bool relay_opened(int fd);
  void relay_closed(int fd);

  WorkerConfig config_;
  boost::asio::io_context io_;
  // UDP listeners first (the core's listener indexes), then DTLS sockets.
  std::vector<std::unique_ptr<boost::asio::ip::udp::socket>> listeners_;
  std::size_t udp_listeners_ = 0;
  std::vector<RelaySocketState*> relays_by_fd_;
  int relay_epoll_ = -1;  // level-triggered, EPOLLIN of every relayed UDP socket of this worker
  boost::asio::posix::stream_descriptor relay_events_;  // relay_epoll_, as Asio waits on it
  bool in_relay_round_ = false;  // on_relays_ready is walking its events: closed states wait
  turn::Now round_now_{};        // the clock, read once per relay round for all its sockets
  std::vector<RelaySocketState*> closed_in_round_;
  std::unique_ptr<RelayPorts> ports_;
  EventLog events_;
  std::unique_ptr<turn::Server> server_;
  turn::Outbox outbox_;
  std::unique_ptr<StreamHub> streams_;
  std::unique_ptr<TcpRelays> tcp_relays_;
  TcpConnectionRegistry& tcp_connections_;
  std::unique_ptr<DtlsHub> dtls_;
  boost::asio::steady_timer tick_;
  boost::asio::steady_timer smoothing_timer_;
  turn::TimePoint smoothing_at_ = turn::TimePoint::max();  // when smoothing_timer_ fires; max: idle

  std::vector<std::byte> buffers_;  // batch slots: headroom | datagram | tailroom
  std::vector<Slot> slots_;
  std::vector<mmsghdr> headers_;
  std::size_t slots_held_ = 0;  // slots [0, slots_held_) hold datagrams the outbox points into
  bool stopping_ = false;
  bool gso_ = true;  // --udp-gso, until the kernel refuses a segmented send (EIO)
  bool gso_to_peers_ = true;  // also on relayed sockets (not with the kernel fast path)
  std::uint64_t gso_messages_ = 0, gso_segments_ = 0;
  std::uint64_t send_failures_ = 0;  // datagrams the kernel refused to send (Drop::send_failed)
};

}  // namespace hush::net
