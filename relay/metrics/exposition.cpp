#include "hush/metrics/exposition.hpp"

#include <deque>
#include <iterator>
#include <limits>
#include <sstream>

#include <prometheus/text_serializer.h>

namespace hush::metrics {

namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;
using Labels = std::vector<ClientMetric::Label>;

using turn::kDropNames;
using turn::kRefusalNames;
constexpr const auto& kAuthNames = turn::kAuthFailNames;
constexpr const char* kFamilies[] = {"ipv4", "ipv6"};

class Builder {
 public:
  MetricFamily& family(std::string name, std::string help, MetricType type) {
    out_.push_back(MetricFamily{std::move(name), std::move(help), type, {}});
    return out_.back();
  }
  static void add(MetricFamily& f, double value, Labels labels = {}) {
    ClientMetric m;
    m.label = std::move(labels);
    if (f.type == MetricType::Counter) m.counter.value = value;
    else m.gauge.value = value;
    f.metric.push_back(std::move(m));
  }
  // One sample per label value, summed over workers.
  template <class Get>
  void summed(const RelaySample& s, std::string name, std::string help, MetricType type, Get get,
              Labels labels = {}) {
    double total = 0;
    for (const auto& w : s.workers) total += static_cast<double>(get(w));
    add(family(std::move(name), std::move(help), type), total, std::move(labels));
  }
  std::vector<MetricFamily> take() { return {std::make_move_iterator(out_.begin()), std::make_move_iterator(out_.end())}; }

 private:
  std::deque<MetricFamily> out_;  // family() hands out references: they must stay valid
};

template <class Get>
double sum(const RelaySample& s, Get get) {
  double total = 0;
  for (const auto& w : s.workers) total += static_cast<double>(get(w));
  return total;
}

}  // namespace

std::vector<MetricFamily> families(const RelaySample& s) {
  Builder b;
  auto& info = b.family("hush_build_info", "Version of the running relay; always 1", MetricType::Gauge);
  Builder::add(info, 1, {{"version", s.version}});
  Builder::add(b.family("hush_draining", "1 while draining (SIGTERM): no new allocations", MetricType::Gauge),
               s.draining ? 1 : 0);
  Builder::add(b.family("hush_allocations_limit", "--max-allocations (0: unlimited)", MetricType::Gauge),
               s.max_allocations);
  Builder::add(b.family("hush_workers", "Worker threads", MetricType::Gauge), static_cast<double>(s.workers.size()));
  Builder::add(b.family("hush_config_reloads_total", "Configuration reloads applied (SIGHUP)", MetricType::Counter),
               s.reloads);
  Builder::add(b.family("hush_config_reload_failures_total", "Reloads rejected; the old configuration was kept",
                        MetricType::Counter),
               s.reload_failures);

  auto& api = b.family("hush_api_responses_total", "Credential API answers, by HTTP status", MetricType::Counter);
  for (const auto& [code, n] : s.api_responses) Builder::add(api, n, {{"code", std::to_string(code)}});

  // Active state, by transport and address family.
  auto& active = b.family("hush_allocations_active", "Allocations alive now, by client transport", MetricType::Gauge);
  constexpr const char* kTransports[] = {"udp", "tcp", "tls", "dtls"};
  for (std::size_t t = 0; t < std::size(kTransports); ++t)
    Builder::add(active, sum(s, [t](const WorkerSample& w) { return w.gauges.allocations_by_transport[t]; }),
                 {{"transport", kTransports[t]}});
  auto& relayed = b.family("hush_relayed_addresses_active",
                           "Relayed transport addresses alive now (a dual-stack allocation has two)",
                           MetricType::Gauge);
  auto& perms = b.family("hush_permissions_active", "Permissions alive now, by peer address family", MetricType::Gauge);
  auto& chans = b.family("hush_channels_active", "Channel bindings alive now, by peer address family", MetricType::Gauge);
  for (std::size_t f = 0; f < 2; ++f) {
    Builder::add(relayed, sum(s, [f](const WorkerSample& w) { return w.gauges.relayed_addresses[f]; }),
                 {{"family", kFamilies[f]}, {"transport", "udp"}});
    Builder::add(perms, sum(s, [f](const WorkerSample& w) { return w.gauges.permissions[f]; }),
                 {{"family", kFamilies[f]}, {"transport", "udp"}});
    Builder::add(chans, sum(s, [f](const WorkerSample& w) { return w.gauges.channels[f]; }),
                 {{"family", kFamilies[f]}, {"transport", "udp"}});
  }

  // Allocation lifecycle.
  b.summed(s, "hush_allocations_created_total", "Allocations created", MetricType::Counter,
           [](const WorkerSample& w) { return w.counters.allocations_created; });
  b.summed(s, "hush_allocations_expired_total", "Allocations that reached the end of their lifetime",
           MetricType::Counter, [](const WorkerSample& w) { return w.counters.allocations_expired; });
  b.summed(s, "hush_allocations_deleted_total", "Allocations deleted by their client (Refresh with lifetime 0)",
           MetricType::Counter, [](const WorkerSample& w) { return w.counters.allocations_deleted; });
  b.summed(s, "hush_allocations_closed_total", "Allocations ended because their TCP or TLS connection closed",
           MetricType::Counter, [](const WorkerSample& w) { return w.counters.allocations_closed; });
  b.summed(s, "hush_allocations_redirected_total", "Allocates answered 300 with an ALTERNATE-SERVER",
           MetricType::Counter, [](const WorkerSample& w) { return w.counters.allocations_redirected; });
  auto& refused = b.family("hush_allocations_refused_total", "Allocates turned away, by reason", MetricType::Counter);
  for (std::size_t i = 0; i < std::size(kRefusalNames); ++i)
    Builder::add(refused, sum(s, [i](const WorkerSample& w) { return w.counters.refusals[i]; }),
                 {{"reason", kRefusalNames[i]}});

  auto& lifetime = b.family("hush_allocation_lifetime_seconds",
                            "How long allocations lived, observed when they expire or are deleted",
                            MetricType::Histogram);
  {
    ClientMetric m;
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i <= turn::kLifetimeBounds.size(); ++i) {
      cumulative += static_cast<std::uint64_t>(sum(s, [i](const WorkerSample& w) { return w.counters.lifetime_buckets[i]; }));
      const double bound = i < turn::kLifetimeBounds.size() ? turn::kLifetimeBounds[i]
                                                            : std::numeric_limits<double>::infinity();
      m.histogram.bucket.push_back({cumulative, bound});
    }
    m.histogram.sample_count = cumulative;
    m.histogram.sample_sum = sum(s, [](const WorkerSample& w) { return w.counters.lifetime_seconds_sum; });
    lifetime.metric.push_back(std::move(m));
  }

  // Relayed traffic.
  auto& packets = b.family("hush_relayed_packets_total", "Packets relayed, by direction", MetricType::Counter);
  auto& bytes = b.family("hush_relayed_bytes_total", "Payload bytes relayed, by direction", MetricType::Counter);
  // User space and the kernel fast path together; the kernel's share follows below.
  const KernelPathSample& k = s.kernel;
  Builder::add(packets, sum(s, [](const WorkerSample& w) { return w.counters.to_peer_packets; }) + k.to_peer_packets,
               {{"direction", "to_peer"}});
  Builder::add(packets,
               sum(s, [](const WorkerSample& w) { return w.counters.to_client_packets; }) + k.to_client_packets,
               {{"direction", "to_client"}});
  Builder::add(bytes, sum(s, [](const WorkerSample& w) { return w.counters.to_peer_bytes; }) + k.to_peer_bytes,
               {{"direction", "to_peer"}});
  Builder::add(bytes, sum(s, [](const WorkerSample& w) { return w.counters.to_client_bytes; }) + k.to_client_bytes,
               {{"direction", "to_client"}});
  auto& kon = b.family("hush_kernel_fastpath_enabled", "1 when the kernel fast path is loaded and attached",
                       MetricType::Gauge);
  Builder::add(kon, k.on ? 1 : 0);
  auto& kpackets = b.family("hush_kernel_fastpath_packets_total",
                            "Packets the kernel fast path forwarded (included in hush_relayed_packets_total)",
                            MetricType::Counter);
  Builder::add(kpackets, static_cast<double>(k.to_peer_packets), {{"direction", "to_peer"}});
  Builder::add(kpackets, static_cast<double>(k.to_client_packets), {{"direction", "to_client"}});
  auto& kbytes = b.family("hush_kernel_fastpath_bytes_total",
                          "Payload bytes the kernel fast path forwarded (included in hush_relayed_bytes_total)",
                          MetricType::Counter);
  Builder::add(kbytes, static_cast<double>(k.to_peer_bytes), {{"direction", "to_peer"}});
  Builder::add(kbytes, static_cast<double>(k.to_client_bytes), {{"direction", "to_client"}});
  auto& kflows = b.family("hush_kernel_fastpath_flows", "Channels the kernel fast path forwards now", MetricType::Gauge);
  Builder::add(kflows, static_cast<double>(k.flows));
  auto& kfail = b.family("hush_kernel_fastpath_install_failures_total",
                         "Channels the kernel could not take (table full); they stay in user space",
                         MetricType::Counter);
  Builder::add(kfail, static_cast<double>(k.install_failures));
  b.summed(s, "hush_udp_gso_sends_total", "UDP GSO sends: same-size datagrams to one address sent as one (--udp-gso)",
           MetricType::Counter, [](const WorkerSample& w) { return w.gso_messages; });
  b.summed(s, "hush_udp_gso_datagrams_total", "Datagrams sent inside UDP GSO sends", MetricType::Counter,
           [](const WorkerSample& w) { return w.gso_segments; });
  b.summed(s, "hush_padding_bytes_total", "Bytes added by padding", MetricType::Counter,
           [](const WorkerSample& w) { return w.counters.padding_bytes; });
  b.summed(s, "hush_cover_bytes_total", "Bytes sent as cover traffic", MetricType::Counter,
           [](const WorkerSample& w) { return w.counters.cover_bytes; });
  b.summed(s, "hush_binding_requests_total", "STUN Binding requests", MetricType::Counter,
           [](const WorkerSample& w) { return w.counters.binding_requests; });
  b.summed(s, "hush_source_blocks_total",
           "Sources blocked for repeated authentication failures or probes of the relay's host (--block-after)",
           MetricType::Counter, [](const WorkerSample& w) { return w.counters.source_blocks; });
  b.summed(s, "hush_icmp_indications_total",
           "ICMP errors about datagrams to peers passed to clients as Data indications", MetricType::Counter,
           [](const WorkerSample& w) { return w.counters.icmp_indications; });

  auto& drops = b.family("hush_dropped_packets_total", "Packets dropped, by reason", MetricType::Counter);
  for (std::size_t i = 0; i < std::size(kDropNames); ++i)
    Builder::add(drops, sum(s, [i](const WorkerSample& w) { return w.counters.drops[i]; }), {{"reason", kDropNames[i]}});
  auto& auth = b.family("hush_auth_failures_total", "Requests that failed authentication, by reason",
                        MetricType::Counter);
  for (std::size_t i = 0; i < std::size(kAuthNames); ++i)
    Builder::add(auth, sum(s, [i](const WorkerSample& w) { return w.counters.auth_failures[i]; }),
                 {{"reason", kAuthNames[i]}});
  auto& errors = b.family("hush_error_responses_total", "Error responses sent, by STUN error code", MetricType::Counter);
  for (std::size_t code = 300; code < 700; ++code) {
    const double n = sum(s, [code](const WorkerSample& w) { return w.counters.error_responses[code]; });
    if (n > 0) Builder::add(errors, n, {{"code", std::to_string(code)}});
  }

  // TCP and TLS connections and DTLS sessions.
  Builder::add(b.family("hush_stream_connections_active", "TCP and TLS connections and DTLS sessions open now", MetricType::Gauge),
               sum(s, [](const WorkerSample& w) { return w.streams.active; }));
  b.summed(s, "hush_stream_accepted_total", "TCP and TLS connections and DTLS sessions accepted (DTLS: after the cookie exchange)", MetricType::Counter,
           [](const WorkerSample& w) { return w.streams.accepted; });
  b.summed(s, "hush_stream_refused_total", "Connections refused by --max-connections(-per-source)",
           MetricType::Counter, [](const WorkerSample& w) { return w.streams.refused; });
  auto& closed = b.family("hush_stream_closed_total", "Connections and DTLS sessions the relay closed, by reason", MetricType::Counter);
  Builder::add(closed, sum(s, [](const WorkerSample& w) { return w.streams.closed_timeout; }), {{"reason", "timeout"}});
  Builder::add(closed, sum(s, [](const WorkerSample& w) { return w.streams.closed_malformed; }), {{"reason", "malformed"}});
  Builder::add(closed, sum(s, [](const WorkerSample& w) { return w.streams.tls_handshake_failures; }),
               {{"reason", "tls_handshake"}});
  b.summed(s, "hush_stream_slow_reader_drops_total",
           "Packets dropped because a connection's send buffer was full (a client that does not read)",
           MetricType::Counter, [](const WorkerSample& w) { return w.streams.slow_reader_drops; });
  b.summed(s, "hush_tcp_relay_connections_total",
           "RFC 6062 peer connections bound to a client data connection (ConnectionBind)", MetricType::Counter,
           [](const WorkerSample& w) { return w.streams.spliced; });
  auto& tcp_bytes = b.family("hush_tcp_relay_bytes_total", "Bytes carried by RFC 6062 peer connections, by direction",
                             MetricType::Counter);
  Builder::add(tcp_bytes, sum(s, [](const WorkerSample& w) { return w.streams.spliced_to_peer_bytes; }),
               {{"direction", "to_peer"}});
  Builder::add(tcp_bytes, sum(s, [](const WorkerSample& w) { return w.streams.spliced_to_client_bytes; }),
               {{"direction", "to_client"}});

  // Per worker: only the index, a small fixed set.
  auto& wpackets = b.family("hush_worker_packets_total", "Packets relayed by each worker in user space, both directions (the kernel fast path's: hush_kernel_fastpath_packets_total)",
                            MetricType::Counter);
  auto& wbusy = b.family("hush_worker_busy_seconds_total", "CPU time of each worker thread (user and system)",
                         MetricType::Counter);
  for (std::size_t i = 0; i < s.workers.size(); ++i) {
    const auto& c = s.workers[i].counters;
    Builder::add(wpackets, static_cast<double>(c.to_peer_packets + c.to_client_packets),
                 {{"worker", std::to_string(i)}});
    Builder::add(wbusy, s.workers[i].cpu_seconds, {{"worker", std::to_string(i)}});
  }
  return b.take();
}

std::string serialize(const std::vector<MetricFamily>& f) {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, f);
  return out.str();
}

}  // namespace hush::metrics
