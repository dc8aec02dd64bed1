// TURN over TCP and TLS (RFC 8656 §3.2, RFC 7443 ALPN "stun.turn") for one worker: its own
// SO_REUSEPORT acceptors, its connections, their framing (STUN messages and ChannelData
// padded to 4 bytes) and bounded buffers. A connection lives on the worker that accepted it.
// Frames go to the worker's turn::Server exactly like UDP datagrams, with a listener index
// from turn::kTcpListenerBase or kTlsListenerBase; answers come back through send().
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>

#include "hush/base/result.hpp"
#include "hush/turn/server.hpp"

namespace hush::net {

// --padding on TLS legs: every TURN message or ChannelData to the client goes in its own TLS
// 1.3 record, padded inside the encryption (RFC 8446 §5.4) to a multiple of `size` (block) or
// to exactly `size` bytes, larger ones to the next multiple (fixed). Plain UDP and TCP legs
// cannot be padded: their length fields travel in clear.
struct Padding {
  enum class Mode { off, block, fixed } mode = Mode::off;
  std::size_t size = 0;
  // Padding bytes for a record of `len` plaintext bytes.
  std::size_t pad_for(std::size_t len) const {
    if (mode == Mode::off || size == 0) return 0;
    if (mode == Mode::fixed && len <= size) return size - len;
    return (size - len % size) % size;
  }
};

struct StreamOptions {
  std::chrono::seconds handshake_timeout{10};  // TLS handshake and first frame
  std::chrono::seconds idle_timeout{600};      // nothing received for this long: closed
  std::size_t send_buffer = 256 * 1024;        // per connection; beyond it packets are dropped
  std::size_t max_frame = 65536 + 20;          // largest STUN message or ChannelData accepted
  Padding padding;                             // TLS legs only
};

// Connections per source address and in total, over all workers (mutex; accept path only).
class ConnectionLimits {
 public:
  ConnectionLimits(std::size_t total, std::size_t per_source) : total_max_(total), per_source_max_(per_source) {}
  bool acquire(const IpAddress& source);
  void release(const IpAddress& source);
  void set(std::size_t total, std::size_t per_source);
  std::size_t total() const;

 private:
  mutable std::mutex mutex_;
  std::size_t total_max_, per_source_max_, total_ = 0;
  std::unordered_map<IpAddress, std::size_t> per_source_;
};

// A TLS server context: certificate chain and key, TLS 1.2 and 1.3 with AEAD ciphers only,
// ALPN "stun.turn" accepted when offered. Errors name the file.
// With padding on, TLS 1.3 is required: TLS 1.2 records cannot carry padding.
Result<std::shared_ptr<boost::asio::ssl::context>, std::string> make_tls_context(const std::string& cert,
                                                                                 const std::string& key,
                                                                                 bool tls13_only = false);

struct StreamCounters {
  std::uint64_t accepted = 0;
  std::uint64_t refused = 0;            // over a connection limit
  std::uint64_t closed_idle = 0;        // handshake or idle timeout
  std::uint64_t closed_malformed = 0;   // a frame that is neither STUN nor ChannelData, or too large
  std::uint64_t handshake_failures = 0;
  std::uint64_t slow_reader_drops = 0;  // packets dropped because a connection's send buffer was full
  std::uint64_t padding_bytes = 0;      // added inside TLS or DTLS records by --padding
  std::uint64_t spliced = 0;            // RFC 6062 data connections bound to a peer connection
  std::uint64_t spliced_to_peer_bytes = 0;
  std::uint64_t spliced_to_client_bytes = 0;
  StreamCounters& operator+=(const StreamCounters& o) {
    spliced += o.spliced;
    spliced_to_peer_bytes += o.spliced_to_peer_bytes;
    spliced_to_client_bytes += o.spliced_to_client_bytes;
    accepted += o.accepted;
    refused += o.refused;
    closed_idle += o.closed_idle;
    closed_malformed += o.closed_malformed;
    handshake_failures += o.handshake_failures;
    slow_reader_drops += o.slow_reader_drops;
    padding_bytes += o.padding_bytes;
    return *this;
  }
};

class StreamHub {
 public:
  using Flush = std::function<void()>;
  using Clock = std::function<turn::Now()>;
  StreamHub(boost::asio::io_context& io, turn::Server& server, turn::Outbox& outbox, Flush flush, Clock now,
            StreamOptions options, ConnectionLimits& limits);
  ~StreamHub();

  // Bind now (throws std::runtime_error naming the address); accept once start() is called.
  // `exclusive`: SO_REUSEPORT only after the bind, as UdpOptions::exclusive_bind.
  void listen(const Endpoint& at, bool tls, bool exclusive = false);
  void start();
  void set_tls_context(std::shared_ptr<boost::asio::ssl::context> ctx) { tls_ = std::move(ctx); }
  void set_options(const StreamOptions& o) { options_ = o; }

  // An answer or a relayed packet for a stream client; false if the connection is gone or
  // its send buffer is full (the packet is dropped, as on a congested UDP path).
  bool send(const turn::Transmit& t);
  // RFC 6062: from now on the client connection `data` carries raw bytes to and from the peer
  // connection `fd` (adopted; closed here on failure), named `id`. The TURN answer already
  // queued for `data` goes out first.
  bool splice(const turn::FiveTuple& data, int fd, std::uint32_t id);
  void close_splice(std::uint32_t id);  // closes both sides
  // Told when a splice ends on this worker (the registry forgets the connection).
  void on_splice_end(std::function<void(std::uint32_t)> f) { splice_end_ = std::move(f); }
  void close_all();
  const StreamCounters& counters() const { return counters_; }
  std::size_t connections() const { return conns_.size(); }

  struct Conn;  // the implementation's

 private:
  struct Acceptor;
  friend struct Conn;
  void accept(Acceptor& a);
  void closed(const turn::FiveTuple& t, const IpAddress& source);
  void splice_closed(std::uint32_t id);

  boost::asio::io_context& io_;
  turn::Server& server_;
  turn::Outbox& outbox_;
  Flush flush_;
  Clock now_;
  StreamOptions options_;
  ConnectionLimits& limits_;
  std::shared_ptr<boost::asio::ssl::context> tls_;
  std::vector<std::unique_ptr<Acceptor>> acceptors_;
  std::unordered_map<turn::FiveTuple, std::shared_ptr<Conn>> conns_;
  std::unordered_map<std::uint32_t, std::weak_ptr<Conn>> splices_;
  std::function<void(std::uint32_t)> splice_end_;
  std::vector<std::byte> read_buffer_;  // every connection's reads, while none holds part of a frame
  StreamCounters counters_;
  bool closing_ = false;
};

}  // namespace hush::net
