#include "hush/net/http_server.hpp"

#include <atomic>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "accept_retry.hpp"

namespace hush::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace beast_http = beast::http;
using asio::ip::tcp;

namespace {

constexpr auto kRequestTimeout = std::chrono::seconds(5);
constexpr std::size_t kHeaderLimit = 8192;

tcp::endpoint to_tcp(const Endpoint& ep) {
  return tcp::endpoint(asio::ip::make_address(ep.ip.to_string()), ep.port);
}

// One connection: read one request, answer, close.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, const http::Handler& handler, std::atomic<std::size_t>& open)
      : stream_(std::move(socket)), handler_(handler), open_(open) {}
  ~Session() { --open_; }

  void start() {
    parser_.header_limit(kHeaderLimit);
    parser_.body_limit(0);
    stream_.expires_after(kRequestTimeout);
    beast_http::async_read(stream_, buffer_, parser_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (!ec) self->answer();
    });
  }

 private:
  void answer() {
    const auto& req = parser_.get();
    http::Request request;
    request.method = std::string(req.method_string());
    request.target = std::string(req.target());
    if (auto it = req.find(beast_http::field::authorization); it != req.end()) request.authorization = std::string(it->value());
    http::Response answer = handler_(request);
    auto& res = response_;
    res.version(req.version());
    res.keep_alive(false);
    res.result(static_cast<unsigned>(answer.status));
    res.set(beast_http::field::content_type, answer.content_type);
    res.set(beast_http::field::cache_control, "no-store");
    for (const auto& [name, value] : answer.headers) res.set(name, value);
    res.body() = std::move(answer.body);
    res.prepare_payload();
    if (req.method() == beast_http::verb::head) res.body().clear();
    stream_.expires_after(kRequestTimeout);
    beast_http::async_write(stream_, res, [self = shared_from_this()](beast::error_code, std::size_t) {
      beast::error_code ignored;
      self->stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    });
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_{kHeaderLimit};
  beast_http::request_parser<beast_http::empty_body> parser_;
  beast_http::response<beast_http::string_body> response_;
  const http::Handler& handler_;
  std::atomic<std::size_t>& open_;
};

}  // namespace

struct HttpServer::Impl {
  // Sessions still queued when io is destroyed touch handler and open: declared first.
  http::Handler handler;
  std::atomic<std::size_t> open{0};
  asio::io_context io{1};
  tcp::acceptor acceptor{io};
  asio::steady_timer retry{io};  // after a failure for want of descriptors (accept_retry.hpp)
  std::thread thread;

  void accept() {
    acceptor.async_accept([this](beast::error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted) return;
      if (!ec) {
        if (open.load() >= kMaxConnections) {
          beast::error_code ignored;
          socket.close(ignored);  // over the limit: refuse rather than queue
        } else {
          ++open;
          std::make_shared<Session>(std::move(socket), handler, open)->start();
        }
      }
      accept_again(ec, retry, [this] {
        if (acceptor.is_open()) accept();
      });
    });
  }
};

Result<std::unique_ptr<HttpServer>, std::string> HttpServer::open(const Endpoint& at, http::Handler handler) {
  auto impl = std::make_unique<Impl>();
  impl->handler = std::move(handler);
  beast::error_code ec;
  const tcp::endpoint ep = to_tcp(at);
  impl->acceptor.open(ep.protocol(), ec);
  if (!ec) impl->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(ep, ec);
  if (!ec) impl->acceptor.listen(64, ec);
  if (ec) return err("cannot listen on " + at.to_string() + ": " + ec.message());
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

void HttpServer::start() {
  impl_->accept();
  impl_->thread = std::thread([this] { impl_->io.run(); });
}

Endpoint HttpServer::local() const {
  const auto ep = impl_->acceptor.local_endpoint();
  return Endpoint{*IpAddress::parse(ep.address().to_string()), ep.port()};
}

HttpServer::~HttpServer() {
  asio::post(impl_->io, [this] {
    beast::error_code ignored;
    impl_->acceptor.close(ignored);
    impl_->io.stop();
  });
  if (impl_->thread.joinable()) impl_->thread.join();
}

}  // namespace hush::net
