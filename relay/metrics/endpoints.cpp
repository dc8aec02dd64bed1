#include "hush/metrics/endpoints.hpp"

namespace hush::metrics {

http::Response route(const Endpoints& e, const http::Request& r) {
  http::Response res;
  const std::string_view path = http::path_of(r.target);
  if (r.method != "GET" && r.method != "HEAD") {
    res.status = 405;
    res.headers.emplace_back("Allow", "GET, HEAD");
    res.body = "method not allowed\n";
  } else if (path == "/metrics") {
    res.content_type = "text/plain; version=0.0.4; charset=utf-8";
    res.body = e.metrics();
  } else if (path == "/healthz") {
    const bool ok = e.alive();
    res.status = ok ? 200 : 503;
    res.body = ok ? "ok\n" : "a worker does not answer\n";
  } else if (path == "/readyz") {
    const bool ok = e.ready();
    res.status = ok ? 200 : 503;
    res.body = ok ? "ready\n" : "not accepting allocations (draining or full)\n";
  } else {
    res.status = 404;
    res.body = "not found: try /metrics, /healthz or /readyz\n";
  }
  return res;
}

}  // namespace hush::metrics
