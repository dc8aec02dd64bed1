#include "hush/net/worker.hpp"

#include <linux/errqueue.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <future>
#include <stdexcept>

#include <boost/asio/post.hpp>

#include "hush/base/log.hpp"
#include "hush/net/udp_socket.hpp"
#include "hush/stun/channel_data.hpp"
#include "warn_rarely.hpp"

namespace hush::net {

namespace asio = boost::asio;
using asio::ip::udp;

namespace {

// RFC 5780: the UDP listeners with the four of --other-address added where `listen` lacks
// them, and their indexes in `server`.
std::vector<Endpoint> nat_listeners(const std::vector<Endpoint>& listen, const std::optional<Endpoint>& other,
                                    turn::ServerOptions& server) {
  std::vector<Endpoint> udp = listen;
  if (!other) return udp;
  const Endpoint* primary = nullptr;
  for (const auto& ep : listen)
    if (ep.ip.is_v4() == other->ip.is_v4() && ep.ip != other->ip && ep.port != other->port && !ep.ip.is_unspecified()) {
      primary = &ep;
      break;
    }
  if (primary == nullptr)
    throw std::runtime_error("--other-address " + other->to_string() +
                             ": no listen address of its family with another IP and port to pair it with");
  std::array<std::array<turn::ServerOptions::NatListener, 2>, 2> four{};
  for (int i = 0; i < 2; ++i)
    for (int p = 0; p < 2; ++p) {
      const Endpoint ep{i == 0 ? primary->ip : other->ip, p == 0 ? primary->port : other->port};
      std::size_t index = 0;
      while (index < udp.size() && udp[index] != ep) ++index;
      if (index == udp.size()) udp.push_back(ep);
      four[i][p] = turn::ServerOptions::NatListener{static_cast<std::uint16_t>(index), ep};
    }
  server.nat_listeners = four;
  return udp;
}
constexpr std::size_t kMaxDatagram = 65536;
constexpr std::size_t kSlotSize = turn::kPeerHeadroom + kMaxDatagram + 64;
constexpr auto kTick = std::chrono::milliseconds(250);
// Ready relayed sockets taken per epoll_wait, and the fewest free slots a relayed socket's
// batch starts with (fewer: what the slots hold leaves first).
constexpr int kRelayEvents = 128;
constexpr std::size_t kRelayMinRoom = 8;
constexpr std::array<std::byte, 8192> kZeros{};  // --padding-udp pads at most --padding's 8192
// What a socket with IP_RECVERR holds after an ICMP error (icmp_err_convert, icmpv6_err_convert).
bool from_icmp(int e) {
  return e == ECONNREFUSED || e == EHOSTUNREACH || e == ENETUNREACH || e == EHOSTDOWN || e == ENONET ||
         e == ENOPROTOOPT || e == EPROTO || e == EACCES || e == EMSGSIZE || e == EOPNOTSUPP;
}
// UDP GSO: segments per send (the kernel takes up to 64, or 128 since Linux 6.x), the largest
// segment joined (media stays below it, and it fits a 1500-byte path with IPv6 and the UDP
// header), and the bytes of one GSO send.
constexpr std::uint16_t kGsoMaxSegments = 64;
constexpr std::size_t kGsoMaxSegment = 1400;
constexpr std::size_t kGsoMaxBytes = 65000;
}  // namespace

struct Worker::Slot {
  iovec iov;
  sockaddr_storage from;
};

// A relayed socket in the worker's epoll set (its data pointer). The worker closes the
// descriptor; a state closed while on_relays_ready walks its events is freed after the walk.
struct Worker::RelaySocketState {
  int fd;
  bool closed = false;
};

Worker::Worker(WorkerConfig config, std::shared_ptr<const turn::Snapshot> snapshot, Shared shared,
               std::shared_ptr<boost::asio::ssl::context> tls, DtlsContext dtls)
    : config_(std::move(config)),
      relay_events_(io_),
      events_(shared.pseudonyms, shared.pseudonyms_on),
      outbox_(config_.batch * 2 + 8, (config_.batch * 2 + 8) * turn::Outbox::kMaxResponse),
      tcp_connections_(shared.tcp_connections),
      tick_(io_),
      smoothing_timer_(io_),
      buffers_(config_.batch * kSlotSize),
      slots_(config_.batch),
      headers_(config_.batch) {
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    Slot& s = slots_[i];
    s.iov.iov_base = buffers_.data() + i * kSlotSize + turn::kPeerHeadroom;
    s.iov.iov_len = kMaxDatagram;
    mmsghdr& h = headers_[i];
    h = mmsghdr{};
    h.msg_hdr.msg_name = &s.from;
    h.msg_hdr.msg_iov = &s.iov;
    h.msg_hdr.msg_iovlen = 1;
  }
  relay_epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (relay_epoll_ < 0) throw std::runtime_error(std::string("epoll_create1: ") + std::strerror(errno));
  relay_events_.assign(relay_epoll_);  // closed with it
  ports_ = std::make_unique<RelayPorts>(
      config_.relay, shared.ports_in_use, [this](int fd) { return relay_opened(fd); }, [this](int fd) { relay_closed(fd); });
  const std::vector<Endpoint> udp_listen = nat_listeners(config_.listen, config_.other_address, config_.server);
  server_ = std::make_unique<turn::Server>(config_.server, std::move(snapshot), *ports_, &shared.live_ports,
                                           &shared.quota, &shared.reservations);
  server_->set_event_sink(&events_);
  if (config_.kernel != nullptr) server_->set_kernel_path(config_.kernel, udp_listen);  // UDP listener order
  UdpOptions listening{true, false, 4 << 20, 4 << 20};
  listening.exclusive_bind = config_.first;
  for (const auto& ep : udp_listen) {
    auto fd = open_udp(ep, listening);
    if (!fd)
      throw std::runtime_error(std::string(listeners_.size() < config_.listen.size() ? "" : "--other-address: ") +
                               "cannot listen on " + ep.to_string() + ": " + fd.error().message);
    listeners_.push_back(std::make_unique<udp::socket>(io_, ep.ip.is_v4() ? udp::v4() : udp::v6(), *fd));
  }
  udp_listeners_ = listeners_.size();
  gso_ = config_.udp_gso;
  // With the kernel fast path, datagrams to peers stay single: a peer may be a relayed address
  // of this host whose flow the eBPF program forwards, and a GSO packet passes that program
  // unhandled, so it would reach the client by user space and out of order.
  gso_to_peers_ = config_.udp_gso && config_.kernel == nullptr;
  dtls_ = std::make_unique<DtlsHub>(*server_, outbox_, [this] { flush(); }, config_.streams, shared.connections);
  dtls_->set_context(std::move(dtls));
  for (const auto& ep : config_.tls_listen) {
    auto fd = open_udp(ep, listening);
    if (!fd) throw std::runtime_error("cannot listen for DTLS on " + ep.to_string() + ": " + fd.error().message);
    listeners_.push_back(std::make_unique<udp::socket>(io_, ep.ip.is_v4() ? udp::v4() : udp::v6(), *fd));
    dtls_->add_socket(*fd);
  }
  streams_ = std::make_unique<StreamHub>(
      io_, *server_, outbox_, [this] { flush(); }, [this] { return now(); }, config_.streams, shared.connections);
  streams_->set_tls_context(std::move(tls));
  streams_->on_splice_end([&registry = shared.tcp_connections](std::uint32_t id) { registry.ended(id); });
  tcp_relays_ = std::make_unique<TcpRelays>(
      io_, *ports_, shared.tcp_connections, *streams_, *server_, outbox_, [this] { flush(); }, [this] { return now(); });
  server_->set_tcp_host(tcp_relays_.get());
  for (const auto& ep : config_.listen) streams_->listen(ep, false, config_.first);
  for (const auto& ep : config_.tls_listen) streams_->listen(ep, true, config_.first);
}

Worker::~Worker() {
  // Close every relayed socket through the TURN core, then let aborted handlers free state.
  streams_->close_all();
  dtls_->close_all();
  server_->clear();
  server_->set_tcp_host(nullptr);  // destroyed before the server
  tcp_relays_->close_all();
  for (auto& l : listeners_) l->close();
  tick_.cancel();
  smoothing_timer_.cancel();
  boost::system::error_code ignored;
  relay_events_.close(ignored);
  io_.restart();
  io_.poll();
  for (auto* s : relays_by_fd_) {
    if (s == nullptr) continue;
    ::close(s->fd);
    delete s;
  }
}

turn::Now Worker::now() const {
  const auto wall = std::chrono::system_clock::now().time_since_epoch();
  return turn::Now{std::chrono::steady_clock::now(), std::chrono::duration_cast<std::chrono::seconds>(wall).count()};
}

void Worker::run() {
  for (std::size_t i = 0; i < listeners_.size(); ++i) arm_listener(i);
  arm_relays();
  streams_->start();
  on_tick();
  io_.run();
}

void Worker::stop() {
  asio::post(io_, [this] {
    stopping_ = true;
    io_.stop();
  });
}

void Worker::replace_snapshot(std::shared_ptr<const turn::Snapshot> s) {
  asio::post(io_, [this, s = std::move(s)]() mutable { server_->set_snapshot(std::move(s)); });
}

void Worker::reconfigure(std::shared_ptr<const turn::Snapshot> s, const turn::ServerOptions& options) {
  asio::post(io_, [this, s = std::move(s), options]() mutable {
    server_->set_snapshot(std::move(s));
    server_->set_options(options);
  });
}

void Worker::set_tls_context(std::shared_ptr<boost::asio::ssl::context> tls, DtlsContext dtls) {
  asio::post(io_, [this, tls = std::move(tls), dtls = std::move(dtls)]() mutable {
    streams_->set_tls_context(std::move(tls));
    dtls_->set_context(std::move(dtls));
  });
}

void Worker::set_stream_options(const StreamOptions& o) {
  asio::post(io_, [this, o] {
    streams_->set_options(o);
    dtls_->set_options(o);
  });
}

void Worker::set_draining(bool on) {
  asio::post(io_, [this, on] { server_->set_draining(on); });
}

std::optional<Worker::Stats> Worker::stats(std::chrono::milliseconds timeout) {
  // Shared with the handler: if the wait times out, the handler may still run later.
  auto p = std::make_shared<std::promise<Stats>>();
  auto f = p->get_future();
  asio::post(io_, [this, p] {
    Stats st;
    st.counters = server_->counters();
    st.counters.drops[static_cast<std::size_t>(turn::Drop::send_failed)] += send_failures_;
    st.gauges = server_->gauges(std::chrono::steady_clock::now());
    st.streams = streams_->counters();
    st.streams += dtls_->counters();
    st.connections = streams_->connections() + dtls_->sessions();
    st.gso_messages = gso_messages_;
    st.gso_segments = gso_segments_;
    timespec cpu{};
    if (::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu) == 0)
      st.cpu_seconds = static_cast<double>(cpu.tv_sec) + static_cast<double>(cpu.tv_nsec) / 1e9;
    p->set_value(std::move(st));
  });
  if (f.wait_for(timeout) != std::future_status::ready) return std::nullopt;
  return f.get();
}

void Worker::on_tick() {
  const turn::Now t = now();
  server_->on_timer(t);
  if (server_->kernel_pending()) server_->commit_kernel(t.mono);  // on_timer answers nobody
  dtls_->on_tick(t);
  tcp_connections_.expire(t.mono);
  tick_.expires_after(kTick);
  tick_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) on_tick();
  });
}

// Readiness is edge-triggered and Asio's wait operations never read speculatively: a socket
// left with data after one batch would stay silent until its next datagram. So a full batch
// posts a continuation (other sockets' handlers run first, which keeps latency fair) and only
// a socket drained empty waits for readiness again.
void Worker::arm_listener(std::size_t index) {
  listeners_[index]->async_wait(udp::socket::wait_read, [this, index](const boost::system::error_code& ec) {
    if (!ec) on_listener_ready(index);
  });
}

void Worker::on_listener_ready(std::size_t index) {
  if (drain_listener(index)) asio::post(io_, [this, index] { on_listener_ready(index); });
  else arm_listener(index);
}

// Relayed sockets: with an Asio wait per socket, every datagram from a peer cost a wake-up, an
// epoll_ctl to re-arm (Asio's waits never read speculatively) and a sendmmsg of its own. Here
// one wait covers the worker's epoll set; each ready socket gives one batch into the free
// slots, and all of it leaves in one flush. The set is level-triggered, so a socket left with
// data is simply reported again: a round that may have left some posts a continuation (other
// handlers run first), and only a quiet set waits again (re-arming it re-checks readiness, so
// a datagram that arrived meanwhile is not missed).
void Worker::arm_relays() {
  relay_events_.async_wait(asio::posix::stream_descriptor::wait_read, [this](const boost::system::error_code& ec) {
    if (!ec) on_relays_ready();
  });
}

void Worker::on_relays_ready() {
  if (!relay_events_.is_open()) return;
  epoll_event events[kRelayEvents];
  const int n = ::epoll_wait(relay_epoll_, events, kRelayEvents, 0);
  bool more = n == kRelayEvents;
  in_relay_round_ = true;
  round_now_ = now();
  for (int i = 0; i < n; ++i) {
    auto* s = static_cast<RelaySocketState*>(events[i].data.ptr);
    if (!s->closed) more |= drain_relay(s, events[i].events);
  }
  in_relay_round_ = false;
  flush();
  for (auto* s : closed_in_round_) delete s;
  closed_in_round_.clear();
  if (more) asio::post(io_, [this] { on_relays_ready(); });
  else arm_relays();
}

int Worker::receive_batch(int fd, std::size_t first, std::size_t count) {
  // recvmmsg writes only the address length, flags and length of what it fills: the rest of
  // each header was set once, in the constructor.
  for (std::size_t i = first; i < first + count; ++i) headers_[i].msg_hdr.msg_namelen = sizeof slots_[i].from;
  return ::recvmmsg(fd, headers_.data() + first, static_cast<unsigned>(count), MSG_DONTWAIT, nullptr);
}

template <class Before, class Deliver>
bool Worker::drain(int fd, std::size_t min_room, bool hold, Before before, Deliver deliver) {
  if (slots_.size() - slots_held_ < min_room) flush();
  const std::size_t first = slots_held_, room = slots_.size() - first;
  const int got = receive_batch(fd, first, room);
  if (got <= 0) return false;
  for (int pass = 0; pass < 2; ++pass)
    for (std::size_t i = first; i < first + static_cast<std::size_t>(got); ++i) before(pass, slots_[i].from);
  {
    const turn::Now t = in_relay_round_ ? round_now_ : now();
    for (std::size_t i = first; i < first + static_cast<std::size_t>(got); ++i) {
      const Slot& s = slots_[i];
      const mmsghdr& h = headers_[i];
      if (h.msg_hdr.msg_flags & MSG_TRUNC) continue;  // larger than any TURN datagram
      if (outbox_.full()) flush();  // sends what the slots before this one hold
      deliver(t, from_sockaddr(s.from), static_cast<std::byte*>(s.iov.iov_base), h.msg_len);
    }
    slots_held_ = first + static_cast<std::size_t>(got);  // a flush above released only earlier ones
    if (!hold) flush();
  }
  return static_cast<std::size_t>(got) == room;  // a full batch: there may be more
}

bool Worker::drain_listener(std::size_t index) {
  if (index >= udp_listeners_) {
    return drain(listeners_[index]->native_handle(), slots_.size(), false, [](int, const sockaddr_storage&) {},
                 [&](const turn::Now& t, const Endpoint& from, std::byte* data, std::size_t n) {
                   dtls_->on_datagram(t, index - udp_listeners_, from, data, n);
                 });
  }
  // Two passes of cache hints before the batch is handled: every sender's slot in the
  // 5-tuple index, then (those slots loaded by now) every sender's allocation.
  const auto listener = static_cast<std::uint16_t>(index);
  return drain(listeners_[index]->native_handle(), slots_.size(), false, [&](int pass, const sockaddr_storage& from) {
    if (pass == 0) server_->prefetch_client(listener, from_sockaddr(from));
    else server_->prefetch_client_allocation(listener, from_sockaddr(from));
  }, [&](const turn::Now& t, const Endpoint& from, std::byte* data, std::size_t n) {
    server_->on_client_datagram(t, listener, from, Bytes{data, n}, outbox_);
  });
}

bool Worker::drain_relay(RelaySocketState* state, std::uint32_t events) {
  // The error queue first: reading it clears the error the socket holds, which would
  // otherwise fail this recvmmsg (the datagrams would wait for the next round).
  bool more = (events & EPOLLERR) != 0 && drain_icmp(state);
  if ((events & EPOLLIN) == 0) return more;
  // Its allocation loads while recvmmsg runs.
  server_->prefetch_relay(static_cast<std::uint32_t>(state->fd));
  return drain(state->fd, kRelayMinRoom, true, [](int, const sockaddr_storage&) {}, [&](const turn::Now& t, const Endpoint& from, std::byte* data, std::size_t n) {
    server_->on_peer_datagram(t, static_cast<std::uint32_t>(state->fd), from, data, n, outbox_);
  }) || more;
}

bool Worker::drain_icmp(RelaySocketState* state) {
  constexpr int kPerRound = 16;  // the queue is bounded by the socket's receive buffer
  const turn::Now t = round_now_;  // called only from the relay round
  for (int i = 0; i < kPerRound; ++i) {
    sockaddr_storage to{};  // the destination of the datagram the error is about
    std::byte quoted[64];   // the start of that datagram, unused
    iovec iov{quoted, sizeof quoted};
    alignas(cmsghdr) std::byte control[256];
    msghdr m{};
    m.msg_name = &to;
    m.msg_namelen = sizeof to;
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = control;
    m.msg_controllen = sizeof control;
    if (::recvmsg(state->fd, &m, MSG_ERRQUEUE | MSG_DONTWAIT) < 0) return false;  // EAGAIN: empty
    for (cmsghdr* c = CMSG_FIRSTHDR(&m); c != nullptr; c = CMSG_NXTHDR(&m, c)) {
      const bool v4 = c->cmsg_level == SOL_IP && c->cmsg_type == IP_RECVERR;
      const bool v6 = c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_RECVERR;
      if (!v4 && !v6) continue;
      sock_extended_err e;
      std::memcpy(&e, CMSG_DATA(c), sizeof e);
      // Only errors that came in ICMP messages; local ones (a datagram over the MTU with
      // DONT-FRAGMENT) were the relay's own, and the client learns nothing from them.
      if (e.ee_origin != SO_EE_ORIGIN_ICMP && e.ee_origin != SO_EE_ORIGIN_ICMP6) continue;
      if (to.ss_family != AF_INET && to.ss_family != AF_INET6) continue;
      if (outbox_.full()) flush();
      server_->on_peer_icmp(t, static_cast<std::uint32_t>(state->fd),
                            turn::Server::IcmpReport{from_sockaddr(to), e.ee_origin == SO_EE_ORIGIN_ICMP6, e.ee_type,
                                                     e.ee_code, e.ee_info},
                            outbox_);
    }
  }
  return true;
}

void Worker::flush() {
  auto items = outbox_.transmits();
  constexpr std::size_t kMax = 512;
  mmsghdr hdrs[kMax];
  iovec iovs[2 * kMax];  // a message's iovecs are adjacent: its segments, or a datagram and its padding
  sockaddr_storage addrs[kMax];
  alignas(cmsghdr) std::byte control[kMax][CMSG_SPACE(sizeof(std::uint16_t))];
  std::uint16_t segments[kMax];  // datagrams in each message (> 1: one UDP GSO send)
  std::size_t i = 0;
  while (i < items.size()) {
    // One sendmmsg per run of datagrams leaving the same socket.
    const auto via = items[i].via;
    const auto sock = items[i].socket;
    if (via == turn::Transmit::Via::listener && sock >= turn::kDtlsListenerBase) {
      // A stream client: framed into its connection's buffer (dropped when that is full).
      // A DTLS client: one record, one datagram.
      if (sock >= turn::kTcpListenerBase) streams_->send(items[i]);
      else dtls_->send(items[i]);
      ++i;
      continue;
    }
    std::size_t n = 0, v = 0, k = 0;  // messages, iovecs and transmits of this run
    const bool gso_run = gso_ && (via == turn::Transmit::Via::listener || gso_to_peers_);
    // Joined datagrams take an iovec but no message: bound both (a larger outbox than today's
    // must not overrun the arrays; the rest of the run goes in the next sendmmsg).
    while (i + k < items.size() && n < kMax && v + 2 <= std::size(iovs) && items[i + k].via == via &&
           items[i + k].socket == sock) {
      const auto& t = items[i + k];
      std::size_t pad = 0;
      if (via == turn::Transmit::Via::listener && t.size > 0 && stun::first_byte_is_channel_data(t.data[0])) {
        // --padding-udp: zeros after the ChannelData's end (RFC 8656 §12.5), as the kernel
        // fast path pads the flows it forwards.
        if (const std::size_t p = config_.udp_padding.pad_for(t.size); p > 0 && p <= kZeros.size()) pad = p;
      }
      // UDP GSO: a datagram of the same size to the same address as the message before
      // joins it as one more segment, so the kernel builds one packet for the lot and cuts
      // it up at the end (on the wire the datagrams are the same). A flood to one client or
      // peer pays its way through the stack once per batch instead of once per datagram.
      // The message before must hold only segments of this size (a padded one has two
      // iovecs for one datagram and never matches) and have room for one more.
      const bool joins = gso_run && pad == 0 && n > 0 && t.size > 0 && t.size <= kGsoMaxSegment &&
                         items[i + k - 1].to == t.to && hdrs[n - 1].msg_hdr.msg_iovlen == segments[n - 1] &&
                         hdrs[n - 1].msg_hdr.msg_iov[0].iov_len == t.size && segments[n - 1] < kGsoMaxSegments &&
                         (segments[n - 1] + 1u) * t.size <= kGsoMaxBytes;
      if (joins) {
        iovs[v++] = iovec{const_cast<std::byte*>(t.data), t.size};
        ++hdrs[n - 1].msg_hdr.msg_iovlen;
        ++segments[n - 1];
        ++k;
        continue;
      }
      hdrs[n] = mmsghdr{};
      hdrs[n].msg_hdr.msg_name = &addrs[n];
      hdrs[n].msg_hdr.msg_namelen = to_sockaddr(t.to, addrs[n]);
      hdrs[n].msg_hdr.msg_iov = &iovs[v];
      hdrs[n].msg_hdr.msg_iovlen = 1;
      iovs[v++] = iovec{const_cast<std::byte*>(t.data), t.size};
      if (pad > 0) {
        iovs[v++] = iovec{const_cast<std::byte*>(kZeros.data()), pad};
        hdrs[n].msg_hdr.msg_iovlen = 2;
        segments[n] = 0;  // never joined
      } else {
        segments[n] = 1;
      }
      ++n;
      ++k;
    }
    for (std::size_t m = 0; m < n; ++m) {
      if (segments[m] < 2) continue;
      msghdr& h = hdrs[m].msg_hdr;
      h.msg_control = control[m];
      h.msg_controllen = sizeof control[m];
      cmsghdr* c = CMSG_FIRSTHDR(&h);
      c->cmsg_level = SOL_UDP;
      c->cmsg_type = UDP_SEGMENT;
      c->cmsg_len = CMSG_LEN(sizeof(std::uint16_t));
      const auto size = static_cast<std::uint16_t>(h.msg_iov[0].iov_len);
      std::memcpy(CMSG_DATA(c), &size, sizeof size);
      ++gso_messages_;
      gso_segments_ += segments[m];
    }
    const int fd = via == turn::Transmit::Via::listener ? listeners_[sock]->native_handle() : static_cast<int>(sock);
    std::size_t sent = 0;
    bool retried = false;
    while (sent < n) {
      const int r = ::sendmmsg(fd, hdrs + sent, static_cast<unsigned>(n - sent), MSG_DONTWAIT);
      if (r > 0) {
        sent += static_cast<std::size_t>(r);
        retried = false;
        continue;
      }
      if (r < 0 && errno == EINTR) continue;
      if (r < 0 && via == turn::Transmit::Via::relay && !retried && from_icmp(errno)) {
        // A relayed socket held the error of an ICMP message about an earlier datagram
        // (IP_RECVERR) and reported it instead of sending this one: the error is cleared by
        // that, so once more. The ICMP message waits in the error queue for the relay round.
        retried = true;
        continue;
      }
      if (r < 0 && segments[sent] >= 2 && (errno == EIO || errno == EINVAL || errno == EOPNOTSUPP)) {
        // The route cannot take a GSO packet (no checksum offload on the way out: EIO; a
        // segment above the path's MTU: EINVAL): its datagrams go one by one, and after EIO
        // this worker stops joining them.
        if (errno != EINVAL && gso_) {
          gso_ = false;
          log::info("UDP GSO off on this worker: the kernel refused a segmented send");
        }
        send_failures_ += send_one_by_one(fd, hdrs[sent].msg_hdr);
      } else {
        // Refused (a full socket buffer, no route, a firewall): this message is lost, as UDP
        // allows, and counted; go on with the next one.
        send_failures_ += segments[sent] == 0 ? 1 : segments[sent];
      }
      ++sent;
      retried = false;
    }
    i += k;
  }
  outbox_.clear();
  slots_held_ = 0;
  if (server_->kernel_pending()) server_->commit_kernel(now().mono);  // after the answers left
  if (config_.server.smoothing.count() > 0) arm_smoothing();
}

std::size_t Worker::send_one_by_one(int fd, const msghdr& gso) {
  std::size_t refused = 0;
  for (std::size_t s = 0; s < gso.msg_iovlen; ++s) {
    msghdr one{};
    one.msg_name = gso.msg_name;
    one.msg_namelen = gso.msg_namelen;
    one.msg_iov = &gso.msg_iov[s];
    one.msg_iovlen = 1;
    if (::sendmsg(fd, &one, MSG_DONTWAIT) < 0) ++refused;  // lost, as UDP allows
  }
  return refused;
}

void Worker::arm_smoothing() {
  const auto next = server_->next_release();
  if (!next || *next >= smoothing_at_) return;
  smoothing_at_ = *next;
  smoothing_timer_.expires_at(*next);
  smoothing_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;  // re-armed earlier, or stopping
    smoothing_at_ = turn::TimePoint::max();
    const turn::Now t = now();
    while (server_->release_due(t, outbox_)) flush();
    flush();  // also arms the timer for the next tick that is waiting
  });
}

bool Worker::relay_opened(int fd) {
  auto* s = new RelaySocketState{fd};
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = s;
  if (::epoll_ctl(relay_epoll_, EPOLL_CTL_ADD, fd, &ev) != 0) {  // ENOMEM, or ENOSPC (fs.epoll.max_user_watches)
    // RelayPorts closes the socket and the client gets 508: better than an allocation that
    // would never hear from its peers.
    const int e = errno;
    static std::atomic<std::int64_t> last_warning{0};
    warn_rarely(last_warning, std::string("cannot watch relayed sockets (") + std::strerror(e) +
                                  "): allocations are refused with 508");
    delete s;
    return false;
  }
  if (relays_by_fd_.size() <= static_cast<std::size_t>(fd)) relays_by_fd_.resize(static_cast<std::size_t>(fd) + 1);
  relays_by_fd_[static_cast<std::size_t>(fd)] = s;
  return true;
}

void Worker::relay_closed(int fd) {
  RelaySocketState* s = relays_by_fd_[static_cast<std::size_t>(fd)];
  relays_by_fd_[static_cast<std::size_t>(fd)] = nullptr;
  s->closed = true;
  // Out of the set before the close: close() alone removes it only if no duplicate of the
  // descriptor lives on, and a stale entry would hand back a freed state.
  ::epoll_ctl(relay_epoll_, EPOLL_CTL_DEL, fd, nullptr);
  ::close(fd);
  if (in_relay_round_) closed_in_round_.push_back(s);  // its event may still be ahead in the walk
  else delete s;
}

}  // namespace hush::net
