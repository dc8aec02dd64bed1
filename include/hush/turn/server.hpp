// RFC 8656: the TURN state machine of one worker, driven by (now, where, from, bytes) and
// answering through an Outbox. No sockets, no clocks, no threads, no logging per packet.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <queue>
#include <string>
#include <unordered_map>
#include <vector>

#include "hush/auth/authenticator.hpp"
#include "hush/base/flat_map.hpp"
#include "hush/policy/peer_policy.hpp"
#include "hush/policy/rate_limiter.hpp"
#include "hush/policy/relay_port_registry.hpp"
#include "hush/policy/source_blocker.hpp"
#include "hush/stun/builder.hpp"
#include "hush/stun/message.hpp"
#include "hush/turn/allocation.hpp"
#include "hush/turn/counters.hpp"
#include "hush/turn/events.hpp"
#include "hush/turn/expiry_queue.hpp"
#include "hush/turn/kernel_path.hpp"
#include "hush/turn/outbox.hpp"
#include "hush/turn/port_allocator.hpp"
#include "hush/turn/quota.hpp"
#include "hush/turn/reservation.hpp"
#include "hush/turn/tcp_relay.hpp"
#include "hush/turn/time.hpp"

namespace hush::turn {

// What every worker reads and a reload replaces as a whole.
struct Snapshot {
  auth::Authenticator auth;
  policy::PeerPolicy peers;
};

struct ServerOptions {
  Seconds default_lifetime{600};
  Seconds max_lifetime{3600};
  Seconds permission_lifetime{300};
  Seconds channel_lifetime{600};
  Seconds reservation_lifetime{30};
  std::optional<IpAddress> external_ip_v4;  // reported instead of the bound relay address
  std::optional<IpAddress> external_ip_v6;
  std::size_t max_permissions = 64;      // per allocation
  std::size_t max_channels = 64;         // per allocation
  bool relay_v4 = true;   // families this relay can allocate (440 otherwise)
  bool relay_v6 = false;
  // The family of an Allocate that names none (no REQUESTED-ADDRESS-FAMILY, no dual request):
  // IPv4 as RFC 8656 §7.2 says, IPv6, or that of the client's own address (coturn's
  // allocation-default-address-family=keep), for relays without IPv4 and clients that never ask.
  enum class DefaultFamily { v4, v6, keep };
  DefaultFamily default_family = DefaultFamily::v4;
  double unauth_rate = 100;   // unauthenticated answers per second per source prefix
  double unauth_burst = 200;
  // --block-after/--block-for: sources whose failures only the owner of their address can
  // cause are ignored for a while (requests but Binding dropped before any HMAC).
  policy::BlockLimits block;
  std::string software;       // SOFTWARE attribute; empty (the default) sends none
  std::uint64_t bandwidth_cap = 0;  // bytes per second per allocation and direction (0: none)
  // Where Allocates go when this relay is draining or full (300 Try Alternate, RFC 8489
  // §10); the first of the client's address family is used. Empty: 508 instead.
  std::vector<Endpoint> alternate_servers;
  // --smoothing: messages relayed to a client leave only on its allocation's clock, one tick
  // of this length after another from the moment it was created, all that is queued at each
  // tick, in order (0: off, the default). At most smoothing_queue bytes wait per allocation.
  std::chrono::milliseconds smoothing{0};
  std::size_t smoothing_queue = 65536;
  // --cover (with smoothing): a TLS or DTLS client's allocation sends a fixed pattern from its
  // creation to its end, one message per tick and two at every fourth, media waiting longest
  // first, else a cover ChannelData (the size of the last media message) on a channel the
  // client has not bound, which clients discard (RFC 8656 §12.6).
  bool cover = false;
  // RFC 5780 NAT behaviour discovery (--other-address): the four UDP listeners on {primary
  // IP, other IP} x {primary port, other port}, as nat_listeners[ip][port] with 0 for primary
  // and 1 for other. A Binding request on one of them is answered with RESPONSE-ORIGIN,
  // OTHER-ADDRESS and MAPPED-ADDRESS, from the listener its CHANGE-REQUEST asks for. Unset,
  // or on any other listener, CHANGE-REQUEST gets 420 (Unknown Attribute).
  struct NatListener {
    std::uint16_t index = 0;  // the UDP listener's index
    Endpoint address;
  };
  std::optional<std::array<std::array<NatListener, 2>, 2>> nat_listeners;
};

// The caller guarantees this much writable room before a peer payload, and 4 bytes after it,
// so ChannelData and Data indication headers are written in place.
inline constexpr std::size_t kPeerHeadroom = 64;
inline constexpr std::size_t kPeerTailroom = 4;
// --smoothing: messages one allocation may have waiting for its next tick (a worker's outbox
// holds more than this, so one tick always leaves in one flush).
inline constexpr std::size_t kSmoothingMaxMessages = 64;
// --cover: records per tick at most (one, and two at every fourth tick).
inline constexpr std::size_t kCoverSlotsMax = 2;

class Server {
 public:
  Server(ServerOptions options, std::shared_ptr<const Snapshot> snapshot, RelayPortAllocator& ports,
         policy::RelayPortRegistry* live_ports = nullptr, Quotas* quota = nullptr,
         ReservationTable* reservations = nullptr);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  void set_snapshot(std::shared_ptr<const Snapshot> s) { snapshot_ = std::move(s); }
  // A reload: lifetimes and limits apply to what comes next; existing allocations stay.
  // The relayed families and external addresses are fixed at start and kept.
  void set_options(const ServerOptions& o);
  // Draining: Allocates are turned away (300 to an alternate, else 508); everything else,
  // Refresh included, goes on as before.
  void set_draining(bool on) { draining_ = on; }
  // Where allocation and authentication events go (logging); none by default.
  void set_event_sink(EventSink* sink) { events_ = sink; }
  bool draining() const { return draining_; }
  // RFC 6062 TCP allocations; without a host, REQUESTED-TRANSPORT TCP gets 442.
  void set_tcp_host(TcpRelayHost* host) { tcp_ = host; }
  // --kernel-fastpath: bound channels of UDP allocations go to `kernel` while their permission
  // is valid (never with --smoothing or --bandwidth-cap). `listeners[i]` is UDP listener i's
  // address; a wildcard one (or a wildcard relayed address) keeps its allocations in user space.
  void set_kernel_path(KernelPath* kernel, std::vector<Endpoint> listeners);
  // Channels become the kernel's only here, after the caller has sent what `out` held: the
  // kernel must not deliver ChannelData to a client before its ChannelBind success response.
  bool kernel_pending() const { return !kernel_pending_.empty(); }
  void commit_kernel(TimePoint now);

  // Cache hints for a batch, neither required nor changing anything: a worker that has
  // received a batch names its senders first (once to load their slots of the 5-tuple index,
  // once more to load their allocations), and names a relayed socket before reading it, so
  // the lookups of on_client_datagram() and on_peer_datagram() find memory already loaded.
  void prefetch_client(std::uint16_t listener, const Endpoint& from) const {
    by_client_.prefetch(FiveTuple{listener, from});
  }
  void prefetch_client_allocation(std::uint16_t listener, const Endpoint& from) const {
    if (const Allocation* a = by_client(FiveTuple{listener, from})) prefetch(*a);
  }
  void prefetch_relay(std::uint32_t relay_handle) const {
    if (const Allocation* a = by_relay(relay_handle)) prefetch(*a);
  }

  // A datagram from a client on listener `listener`.
  void on_client_datagram(const Now& now, std::uint16_t listener, const Endpoint& from, Bytes datagram,
                          Outbox& out);
  // A datagram from a peer on a relayed socket; see kPeerHeadroom.
  void on_peer_datagram(const Now& now, std::uint32_t relay_handle, const Endpoint& from,
                        std::byte* payload, std::size_t size, Outbox& out);
  // RFC 8656 §11.5: an ICMP error (IPv4 destination unreachable or time exceeded; IPv6
  // destination unreachable, packet too big or time exceeded) about a datagram relayed socket
  // `relay_handle` sent to `peer`. The client hears of it in a Data indication with
  // XOR-PEER-ADDRESS and ICMP (no DATA) if it still has a permission for the peer's address;
  // other ICMP types are ignored. `info` is the MTU of a "too big" error, passed on only there.
  struct IcmpReport {
    Endpoint peer;  // the destination of the datagram the error is about
    bool v6 = false;
    std::uint8_t type = 0, code = 0;
    std::uint32_t info = 0;
  };
  void on_peer_icmp(const Now& now, std::uint32_t relay_handle, const IcmpReport& icmp, Outbox& out);
  // A client's TCP or TLS connection closed: its allocation goes with it (RFC 8656 §3.2).
  void on_stream_closed(const FiveTuple& t);
  // RFC 6062: the outcome of a connect() started for a Connect request; answers it.
  void on_tcp_connected(const Now& now, std::uint32_t id, bool ok, Outbox& out);
  // RFC 6062 §5.4: a peer connected to the relayed TCP address `listener` and was given `id`.
  // With a permission for the peer, the client hears of it (ConnectionAttempt) and true is
  // returned; otherwise the caller closes the connection.
  bool on_tcp_peer(const Now& now, std::uint32_t listener, const Endpoint& peer, std::uint32_t id, Outbox& out);
  // --smoothing: releases every allocation whose tick is due, as far as `out` has room; true
  // if some are still due (flush `out` and call again).
  bool release_due(const Now& now, Outbox& out);
  // When release_due() next has something to do; nullopt while nothing waits.
  std::optional<TimePoint> next_release() const;
  // Expires allocations, permissions, channels and reservations that are due.
  void on_timer(const Now& now);
  // Removes every allocation (shutdown).
  void clear();

  std::size_t allocation_count() const { return allocations_.size(); }
  const Allocation* find(const FiveTuple& t) const;
  const Counters& counters() const { return counters_; }
  Gauges gauges(TimePoint now) const;
  const ServerOptions& options() const { return options_; }

 private:
  struct Request;  // the parsed request and where it came from

  void handle_stun(const Now& now, const FiveTuple& t, const stun::MessageView& m, Outbox& out);
  void handle_binding(const Request& r, Outbox& out);
  void handle_classic_binding(const Now& now, const FiveTuple& t, Bytes d, Outbox& out);
  // RFC 5780: listener `listener` among the four of --other-address (nullptr if it is not),
  // with its place there (0: primary, 1: other).
  const ServerOptions::NatListener* nat_at(std::uint16_t listener, int& ip, int& port) const;
  void handle_allocate(const Request& r, Outbox& out);
  void handle_refresh(const Request& r, Allocation& a, Outbox& out);
  void handle_create_permission(const Request& r, Allocation& a, Outbox& out);
  void handle_channel_bind(const Request& r, Allocation& a, Outbox& out);
  void handle_connect(const Request& r, Allocation& a, Outbox& out);
  void handle_connection_bind(const Request& r, const Allocation* a, Outbox& out);
  void handle_send(const Now& now, const FiveTuple& t, const stun::MessageView& m, Outbox& out);
  void handle_channel_data(const Now& now, const FiveTuple& t, Bytes datagram, Outbox& out);

  // Responses. Unauthenticated ones pass the rate limit and the 3x amplification bound here.
  void reply_unauthenticated(const Request& r, int code, Outbox& out, bool with_nonce = false,
                             std::span<const std::uint16_t> unknown = {});
  template <class Fill>
  void reply_authenticated(const Request& r, Allocation* cache_in, Outbox& out, Fill fill);
  void reply_error(const Request& r, int code, Allocation* cache_in, Outbox& out,
                   std::span<const std::uint16_t> unknown = {}, const Endpoint* alternate = nullptr);
  void emit(const Request& r, Bytes message, Outbox& out);
  // SOFTWARE, then the integrity attributes the request carried, then FINGERPRINT if it had one.
  void sign(stun::MessageBuilder& b, const auth::Credentials& creds, bool fingerprint) const;
  void next_indication_id(std::byte* id);  // 12 bytes; nothing checks them (RFC 8489 §6)
  // --smoothing: queues a message for the client until the allocation's next tick; false
  // when the allocation's queue is full.
  bool smooth(Allocation& a, const std::byte* message, std::size_t size, const Now& now);
  TimePoint tick_after(const Allocation& a, TimePoint t) const;  // the allocation's first tick > t
  void start_cover(Allocation& a);
  void release_cover_tick(Allocation& a, TimePoint when, Outbox& out);  // --cover: one tick's records
  bool fits_amplification_bound(const Request& r, std::size_t response_size);
  // 300 Try Alternate with ALTERNATE-SERVER when one of the client's family is configured,
  // else `code`. Counted as `why`.
  void refuse_allocate(const Request& r, Refusal why, int code, Outbox& out);
  const Endpoint* alternate_for(const Endpoint& client) const;
  void retire(Allocation& a, const Now& now);  // observes the lifetime, then removes
  void refuse(const Request& r, Refusal why);   // counts and reports
  void auth_failed(const Request& r, AuthFail why);
  // A failure only the owner of the source address can cause (its nonce was sent there).
  void strike(const Request& r);
  // 403 for a peer the policy refuses; a probe (PeerPolicy::is_probe) also counts towards
  // --block-after.
  void refuse_peer(const Request& r, const IpAddress& peer, Allocation& a, Outbox& out);
  void report(EventKind kind, std::string_view reason, const Endpoint& client, std::string_view username);

  bool within_cap(ByteBucket& b, std::size_t bytes, const Now& now) const {
    return options_.bandwidth_cap == 0 || b.take(bytes, options_.bandwidth_cap, now.mono_ns());
  }
  bool peer_allowed(const Endpoint& peer) const { return snapshot_->peers.allows(peer); }
  Endpoint reported(const RelaySocket& s) const;
  // --external-ip: another user's relayed address as clients know it (external) and as this
  // host reaches it (the bound address). Peers are kept internal; clients are told external.
  Endpoint internal_peer(const Allocation& a, const Endpoint& peer) const {
    const auto& ext = peer.ip.is_v4() ? options_.external_ip_v4 : options_.external_ip_v6;
    const RelaySocket* r = ext && peer.ip == *ext ? a.relay_for(peer.ip.family()) : nullptr;
    return r != nullptr ? Endpoint{r->local.ip, peer.port} : peer;
  }
  Endpoint reported_peer(const Allocation& a, const Endpoint& peer) const {
    const auto& ext = peer.ip.is_v4() ? options_.external_ip_v4 : options_.external_ip_v6;
    if (!ext) return peer;
    const RelaySocket* r = a.relay_for(peer.ip.family());
    return r != nullptr && r->local.ip == peer.ip ? Endpoint{*ext, peer.port} : peer;
  }
  void schedule(Allocation& a);
  void remove(Allocation& a);
  // --kernel-fastpath: makes the kernel's flows of `a` those of its live channels now.
  void sync_kernel(Allocation& a, TimePoint now);
  bool kernel_eligible(const Allocation& a) const;
  bool kernel_wanted(const Allocation& a, const ChannelBinding& c, TimePoint now) const;
  std::optional<std::pair<RelaySocket, std::optional<RelaySocket>>> open_relay(Family f, bool even,
                                                                                bool reserve, bool df);

  ServerOptions options_;
  std::shared_ptr<const Snapshot> snapshot_;
  RelayPortAllocator& ports_;
  policy::RelayPortRegistry* live_ports_;
  Quotas* quota_;
  bool draining_ = false;
  EventSink* events_ = nullptr;
  policy::PrefixRateLimiter unauth_limiter_;
  policy::SourceBlocker blocker_;

  // The owner, by allocation id (expiry, smoothing, RFC 6062, gauges: not per packet).
  std::unordered_map<std::uint64_t, std::unique_ptr<Allocation>> allocations_;
  // The packet path's indexes: by client 5-tuple, and by relayed socket handle in a table
  // indexed by it (handles are the worker's descriptors: small integers).
  FlatMap<FiveTuple, Allocation*> by_client_;
  std::vector<Allocation*> by_relay_;
  Allocation* by_id(std::uint64_t id) const {
    auto it = allocations_.find(id);
    return it == allocations_.end() ? nullptr : it->second.get();
  }
  Allocation* by_client(const FiveTuple& t) const {
    Allocation* const* a = by_client_.find(t);
    return a == nullptr ? nullptr : *a;
  }
  Allocation* by_relay(std::uint32_t handle) const { return handle < by_relay_.size() ? by_relay_[handle] : nullptr; }
  // The cache lines a relayed packet reads: Allocation's fields up to `tcp` (its front).
  static void prefetch(const Allocation& a) {
    const auto last = reinterpret_cast<std::uintptr_t>(&a.tcp);
    for (auto line = reinterpret_cast<std::uintptr_t>(&a) & ~std::uintptr_t{63}; line <= last; line += 64)
      __builtin_prefetch(reinterpret_cast<const void*>(line));
  }
  ReservationTable own_reservations_;  // used when no shared table is given (tests)
  ReservationTable* reservations_;
  ExpiryQueue expiry_;
  std::uint64_t next_id_ = 1;
  std::uint64_t txid_state_;  // xorshift state for indication transaction ids
  // RFC 6062: Connect requests waiting for their connection's outcome, by CONNECTION-ID.
  struct PendingConnect {
    std::uint64_t allocation;
    FiveTuple client;
    stun::TransactionId transaction;
    auth::Credentials creds;
    bool fingerprint;
  };
  std::unordered_map<std::uint32_t, PendingConnect> pending_connects_;
  TcpRelayHost* tcp_ = nullptr;
  KernelPath* kernel_ = nullptr;
  std::vector<Endpoint> kernel_listeners_;
  struct PendingFlow {
    std::uint64_t allocation;
    KernelFlow flow;
  };
  std::vector<PendingFlow> kernel_pending_;  // to install once their answers are out
  // --smoothing: (tick, allocation id) of every allocation with messages waiting, earliest first.
  using Release = std::pair<TimePoint, std::uint64_t>;
  std::priority_queue<Release, std::vector<Release>, std::greater<>> releases_;
  Counters counters_;
};

}  // namespace hush::turn
