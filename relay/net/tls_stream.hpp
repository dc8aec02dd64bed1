// TLS over a TCP socket with OpenSSL reading and writing the socket itself, for the TURN-over-TLS
// connections of streams.cpp. Boost.Asio's ssl::stream keeps four buffers of 17 KiB per
// connection (its own input and output, and a BIO pair between them and OpenSSL) for as long
// as the connection lives, and OpenSSL adds its record buffers: about 77 KiB per connection
// measured, on a relay that may hold tens of thousands of mostly idle ones. Here OpenSSL works
// on the non-blocking socket directly, waits for readiness through Asio, and gives its record
// buffers back between records (SSL_MODE_RELEASE_BUFFERS on the context): an idle connection
// holds its SSL object and nothing more.
//
// The operations are those streams.cpp uses: a server handshake, async_read_some,
// async_write_some (so asio::async_write works on it), and read_now with async_wait for a
// reader that keeps no buffer of its own while it waits. One thread per connection, as the
// worker's io_context runs; a read and a write may be pending at once, each retrying its own
// SSL call when the socket is ready for what OpenSSL asked.
#pragma once

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cerrno>
#include <cstddef>
#include <utility>

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>

namespace hush::net {

class TlsStream {
 public:
  using executor_type = boost::asio::ip::tcp::socket::executor_type;

  TlsStream(boost::asio::ip::tcp::socket socket, boost::asio::ssl::context& ctx)
      : socket_(std::move(socket)), ssl_(SSL_new(ctx.native_handle())) {
    boost::system::error_code ignored;
    socket_.non_blocking(true, ignored);
    if (ssl_ != nullptr) {
      SSL_set_fd(ssl_, static_cast<int>(socket_.native_handle()));
      SSL_set_accept_state(ssl_);
    }
  }
  ~TlsStream() {
    if (ssl_ != nullptr) SSL_free(ssl_);
  }
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  executor_type get_executor() { return socket_.get_executor(); }
  SSL* native_handle() { return ssl_; }
  boost::asio::ip::tcp::socket& next_layer() { return socket_; }

  // Handler: void(error_code).
  template <class Handler>
  void async_handshake(Handler&& handler) {
    run([this](std::size_t& n) {
          n = 0;
          return SSL_do_handshake(ssl_);
        },
        [h = std::forward<Handler>(handler)](const boost::system::error_code& ec, std::size_t) mutable { h(ec); },
        true);
  }

  // Handler: void(error_code, std::size_t).
  template <class MutableBuffers, class Handler>
  void async_read_some(const MutableBuffers& buffers, Handler&& handler) {
    const boost::asio::mutable_buffer b = first(buffers);
    run([this, b](std::size_t& n) {
          n = 0;
          if (b.size() == 0) return 1;
          return SSL_read_ex(ssl_, b.data(), b.size(), &n);
        },
        std::forward<Handler>(handler), true);
  }

  // One SSL_read into `buf` now, without waiting: the bytes read; or 0 with `want` set to the
  // readiness OpenSSL needs first (WANT_READ or WANT_WRITE: a TLS 1.3 KeyUpdate can make a read
  // write); or 0 with `ec` set. Records OpenSSL has read ahead come first, without a system call.
  std::size_t read_now(void* buf, std::size_t size, int& want, boost::system::error_code& ec) {
    want = SSL_ERROR_NONE;
    ec = {};
    if (ssl_ == nullptr) {
      ec = boost::asio::error::no_memory;
      return 0;
    }
    ERR_clear_error();
    std::size_t n = 0;
    const int r = SSL_read_ex(ssl_, buf, size, &n);
    if (r > 0) return n;
    const int e = SSL_get_error(ssl_, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) want = e;
    else ec = failure(e);
    return 0;
  }

  // Handler: void(error_code), once the socket is ready for what read_now wanted.
  template <class Handler>
  void async_wait(int want, Handler&& handler) {
    socket_.async_wait(want == SSL_ERROR_WANT_WRITE ? boost::asio::socket_base::wait_write
                                                    : boost::asio::socket_base::wait_read,
                       std::forward<Handler>(handler));
  }

  template <class ConstBuffers, class Handler>
  void async_write_some(const ConstBuffers& buffers, Handler&& handler) {
    const boost::asio::const_buffer b = first(buffers);
    run([this, b](std::size_t& n) {
          n = 0;
          if (b.size() == 0) return 1;
          return SSL_write_ex(ssl_, b.data(), b.size(), &n);
        },
        std::forward<Handler>(handler), true);
  }

 private:
  template <class Buffers>
  static auto first(const Buffers& buffers) {
    auto it = boost::asio::buffer_sequence_begin(buffers);
    const auto end = boost::asio::buffer_sequence_end(buffers);
    for (; it != end; ++it)
      if (it->size() > 0) return *it;
    return *boost::asio::buffer_sequence_begin(buffers);
  }

  // One attempt of `op`; on WANT_READ or WANT_WRITE, another when the socket is ready. A result
  // in the initiating call is posted, never called inline (asio's composed operations need that).
  template <class Op, class Handler>
  void run(Op op, Handler&& handler, bool initiating) {
    if (ssl_ == nullptr) return finish(std::forward<Handler>(handler), boost::asio::error::no_memory, 0, initiating);
    ERR_clear_error();
    std::size_t n = 0;
    const int r = op(n);
    if (r > 0) return finish(std::forward<Handler>(handler), {}, n, initiating);
    const int e = SSL_get_error(ssl_, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
      socket_.async_wait(e == SSL_ERROR_WANT_READ ? boost::asio::socket_base::wait_read
                                                  : boost::asio::socket_base::wait_write,
                         [this, op, h = std::forward<Handler>(handler)](const boost::system::error_code& ec) mutable {
                           if (ec) return h(ec, std::size_t{0});
                           run(op, std::move(h), false);
                         });
      return;
    }
    finish(std::forward<Handler>(handler), failure(e), 0, initiating);
  }

  // What an SSL call's error `e` (neither WANT_READ nor WANT_WRITE) means for the connection.
  static boost::system::error_code failure(int e) {
    boost::system::error_code ec = boost::asio::error::eof;  // close_notify, or the peer just went
    if (e == SSL_ERROR_SSL) {
      const unsigned long code = ERR_get_error();
      ec = code != 0 ? boost::system::error_code(static_cast<int>(code), boost::asio::error::get_ssl_category())
                     : boost::system::error_code(boost::asio::error::connection_reset);
    } else if (e == SSL_ERROR_SYSCALL && errno != 0) {
      ec = boost::system::error_code(errno, boost::system::system_category());
    }
    ERR_clear_error();
    return ec;
  }

  template <class Handler>
  void finish(Handler&& handler, const boost::system::error_code& ec, std::size_t n, bool initiating) {
    if (!initiating) return handler(ec, n);
    boost::asio::post(socket_.get_executor(),
                      [h = std::forward<Handler>(handler), ec, n]() mutable { h(ec, n); });
  }

  boost::asio::ip::tcp::socket socket_;
  SSL* ssl_;
};

}  // namespace hush::net
