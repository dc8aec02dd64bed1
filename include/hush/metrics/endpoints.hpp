// The operator's HTTP endpoints: GET /metrics (Prometheus text), /healthz (alive) and
// /readyz (accepting allocations), as a handler for net::HttpServer.
#pragma once

#include <functional>
#include <string>

#include "hush/base/http.hpp"

namespace hush::metrics {

struct Endpoints {
  std::function<std::string()> metrics;  // the exposition text
  std::function<bool()> alive;
  std::function<bool()> ready;
};

http::Response route(const Endpoints& e, const http::Request& r);

}  // namespace hush::metrics
