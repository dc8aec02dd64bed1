// The relay's metrics as Prometheus families, built at scrape time from per-worker copies of
// the counters (nothing is counted twice or aggregated on the packet path). Labels come only
// from small fixed sets: worker index, transport, family, reason, code. Never an address, a
// port, a username or anything else per user.
#pragma once

#include <string>
#include <vector>

#include <prometheus/metric_family.h>

#include "hush/turn/counters.hpp"

namespace hush::metrics {

// Per-worker TCP/TLS connection counts (filled by the I/O layer).
struct StreamSample {
  std::uint64_t accepted = 0, refused = 0, closed_timeout = 0, closed_malformed = 0, tls_handshake_failures = 0,
                slow_reader_drops = 0, active = 0;
  // RFC 6062: data connections spliced to a peer connection, and the bytes they carried.
  std::uint64_t spliced = 0, spliced_to_peer_bytes = 0, spliced_to_client_bytes = 0;
};

struct WorkerSample {
  turn::Counters counters;
  turn::Gauges gauges;
  double cpu_seconds = 0;
  StreamSample streams;
  std::uint64_t gso_messages = 0, gso_segments = 0;  // --udp-gso
};

// --kernel-fastpath: what the kernel forwarded (from its per-flow counters) and holds.
struct KernelPathSample {
  bool on = false;
  std::uint64_t to_peer_packets = 0, to_peer_bytes = 0, to_client_packets = 0, to_client_bytes = 0;
  std::uint64_t flows = 0, install_failures = 0;
};

struct RelaySample {
  KernelPathSample kernel;
  std::vector<WorkerSample> workers;
  bool draining = false;
  double max_allocations = 0;  // 0: unlimited
  double reloads = 0;
  double reload_failures = 0;
  std::vector<std::pair<int, double>> api_responses;  // by HTTP status
  std::string version;
};

std::vector<prometheus::MetricFamily> families(const RelaySample& s);
// The text exposition format (version 0.0.4).
std::string serialize(const std::vector<prometheus::MetricFamily>& f);

}  // namespace hush::metrics
