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

struct WorkerSample {
  turn::Counters counters;
  turn::Gauges gauges;
  double cpu_seconds = 0;
};

struct RelaySample {
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
