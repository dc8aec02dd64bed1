// A small HTTP/1.1 server (Boost.Beast) on its own thread, for the metrics endpoint and the
// credential API. Bounded: at most kMaxConnections at a time, 5 s to send a request, 8 KiB
// of headers, no body; one request per connection. It logs nothing about who asked, and
// the handler never learns the peer's address.
#pragma once

#include <memory>
#include <string>

#include "hush/base/address.hpp"
#include "hush/base/http.hpp"
#include "hush/base/result.hpp"

namespace hush::net {

class HttpServer {
 public:
  static constexpr std::size_t kMaxConnections = 32;
  // Binds now (so a bad address fails at start); serves once start() is called. The
  // handler runs on the server's thread.
  static Result<std::unique_ptr<HttpServer>, std::string> open(const Endpoint& at, http::Handler handler);
  ~HttpServer();  // stops and joins
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  void start();
  Endpoint local() const;

 private:
  struct Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace hush::net
