#include "hush/net/streams.hpp"

#include <openssl/ssl.h>

#include <algorithm>
#include <cstring>
#include <optional>

#include <unistd.h>
#include <stdexcept>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include "hush/base/bytes.hpp"
#include "hush/net/udp_socket.hpp"
#include "hush/stun/channel_data.hpp"
#include "hush/stun/stream_framing.hpp"
#include "accept_retry.hpp"
#include "tls_common.hpp"
#include "tls_stream.hpp"

namespace hush::net {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using asio::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

namespace {
// A connection's own frame buffer holds only what a read left of a frame: idle connections
// and those whose reads end on frame boundaries (nearly all) read into the worker's buffer.
constexpr std::size_t kInitialBuffer = 2048;
// A TLS record's plaintext at most; plain TCP reads as much at once.
constexpr std::size_t kSharedReadBuffer = 16384;
// RFC 6062 splices: bytes read at once from either side, and the most queued towards the
// peer before the client is no longer read (the other way, --stream-send-buffer).
constexpr std::size_t kSpliceChunk = 16384;
constexpr std::size_t kSpliceBacklog = 65536;

Endpoint to_endpoint(const tcp::endpoint& ep) {
  return Endpoint{*IpAddress::parse(ep.address().to_string()), ep.port()};
}

}  // namespace

// ---- limits -------------------------------------------------------------------------------

bool ConnectionLimits::acquire(const IpAddress& source) {
  std::lock_guard lock(mutex_);
  if (total_max_ != 0 && total_ >= total_max_) return false;
  auto& n = per_source_[source];
  if (per_source_max_ != 0 && n >= per_source_max_) {
    if (n == 0) per_source_.erase(source);
    return false;
  }
  ++n;
  ++total_;
  return true;
}

void ConnectionLimits::release(const IpAddress& source) {
  std::lock_guard lock(mutex_);
  if (total_ > 0) --total_;
  auto it = per_source_.find(source);
  if (it != per_source_.end() && --it->second == 0) per_source_.erase(it);
}

void ConnectionLimits::set(std::size_t total, std::size_t per_source) {
  std::lock_guard lock(mutex_);
  total_max_ = total;
  per_source_max_ = per_source;
}

std::size_t ConnectionLimits::total() const {
  std::lock_guard lock(mutex_);
  return total_;
}

// ---- TLS ----------------------------------------------------------------------------------

Result<std::shared_ptr<ssl::context>, std::string> make_tls_context(const std::string& cert, const std::string& key,
                                                                   bool tls13_only) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                   ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
  SSL_CTX* native = ctx->native_handle();
  SSL_CTX_set_min_proto_version(native, tls13_only ? TLS1_3_VERSION : TLS1_2_VERSION);
  // TLS 1.2: forward-secret AEAD suites only; TLS 1.3 suites are all AEAD.
  SSL_CTX_set_cipher_list(native, "ECDHE+AESGCM:ECDHE+CHACHA20");
  SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  no_resumption(native);
  // Record buffers only while a record is in flight: an idle connection holds its SSL object
  // alone (tls_stream.hpp).
  SSL_CTX_set_mode(native, SSL_MODE_RELEASE_BUFFERS);
  // One read() for a record's header and body (and whatever follows), not one for each: at
  // voice load 0.66 reads per record instead of 2, and 8% less CPU per relayed packet on TLS
  // (5 alternating runs, medians 23.0 against 25.0 us). TlsStream calls SSL_read before it
  // waits for the socket, so records OpenSSL has read ahead are never left waiting.
  SSL_CTX_set_read_ahead(native, 1);
  SSL_CTX_set_alpn_select_cb(native, select_turn_alpn, nullptr);
  boost::system::error_code ec;
  ctx->use_certificate_chain_file(cert, ec);
  if (ec) return err("cannot load certificate " + cert + ": " + ec.message());
  ctx->use_private_key_file(key, ssl::context::pem, ec);
  if (ec) return err("cannot load key " + key + ": " + ec.message());
  if (SSL_CTX_check_private_key(native) != 1) return err("key " + key + " does not match certificate " + cert);
  return ctx;
}

// ---- one connection -----------------------------------------------------------------------

struct StreamHub::Conn : std::enable_shared_from_this<Conn> {
  StreamHub& hub;
  turn::FiveTuple tuple;
  IpAddress source;
  std::optional<tcp::socket> plain;
  std::optional<TlsStream> tls;
  asio::steady_timer timer;
  std::vector<std::byte> in;  // the start of a frame a read left incomplete, or a splice's bytes
  std::size_t have = 0;
  std::vector<std::byte> pending, writing;
  std::vector<std::size_t> pending_frames, writing_frames;  // frame ends, when each goes in its own record
  std::size_t written_frames = 0;
  bool write_busy = false;
  // TLS: one record per frame (padded with --padding), as coturn writes them. Clients such as
  // coturn's uclient take one message per record and lose the rest of a shared one.
  bool record_per_frame = false;
  bool open = true;
  bool established = false;  // TLS done and a first frame received
  SteadyClock::time_point last_rx = SteadyClock::now();
  // RFC 6062: a data connection spliced to a peer connection. Bytes, not frames, both ways;
  // each side is not read while the other is behind.
  std::optional<tcp::socket> peer;
  std::uint32_t splice_id = 0;
  std::vector<std::byte> from_peer;
  std::vector<std::byte> to_peer, to_peer_writing;
  bool peer_write_busy = false;
  bool client_paused = false;  // not reading the client: the peer is behind
  bool peer_paused = false;    // not reading the peer: the client is behind
  bool linger = false;         // one side ended: close once what was read has been written

  Conn(StreamHub& h, turn::FiveTuple t, tcp::socket s, std::shared_ptr<ssl::context> ctx)
      : hub(h), tuple(t), source(t.client.ip), timer(h.io_) {
    if (ctx) {
      tls.emplace(std::move(s), *ctx);
      record_per_frame = true;
      if (h.options_.padding.mode != Padding::Mode::off) {
        SSL* native = tls->native_handle();
        SSL_set_record_padding_callback_arg(native, this);
        SSL_set_record_padding_callback(native, +[](SSL*, int type, size_t len, void* arg) -> size_t {
          if (type != SSL3_RT_APPLICATION_DATA) return 0;
          auto* self = static_cast<Conn*>(arg);
          // len counts the content-type byte OpenSSL appends; the cap keeps a record legal.
          const std::size_t pad = std::min(self->hub.options_.padding.pad_for(len), std::size_t{16384 + 1} - len);
          self->hub.counters_.padding_bytes += pad;
          return pad;
        });
      }
    } else {
      plain.emplace(std::move(s));
      boost::system::error_code ignored;
      plain->non_blocking(true, ignored);  // read_shared() reads it without waiting
    }
  }

  template <class F>
  void with_stream(F&& f) {
    if (tls) f(*tls);
    else f(*plain);
  }
  tcp::socket& lowest() { return tls ? tls->next_layer() : *plain; }

  void start() {
    arm_timer(SteadyClock::now() + hub.options_.handshake_timeout);
    if (!tls) return read();
    tls->async_handshake([self = shared_from_this()](const boost::system::error_code& ec) {
      if (ec) {
        ++self->hub.counters_.handshake_failures;
        return self->close();
      }
      self->read();
    });
  }

  void arm_timer(SteadyClock::time_point at) {
    timer.expires_at(at);
    timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (ec || !self->open) return;
      const auto now = SteadyClock::now();
      if (!self->established || now - self->last_rx >= self->hub.options_.idle_timeout) {
        ++self->hub.counters_.closed_idle;
        return self->close();
      }
      self->arm_timer(self->last_rx + self->hub.options_.idle_timeout);
    });
  }

  void read() {
    if (!open) return;
    if (have == 0 && !peer) return read_shared();
    if (peer && in.size() < kSpliceChunk) in.resize(kSpliceChunk);  // a splice reads 16 KiB at once
    if (have == in.size()) in.resize(std::min(in.size() * 2, hub.options_.max_frame + 4));
    with_stream([&](auto& s) {
      s.async_read_some(asio::buffer(in.data() + have, in.size() - have),
                        [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
                          if (!self->open) return;
                          if (ec) return self->peer ? self->end_splice() : self->close();
                          self->have += n;
                          self->last_rx = SteadyClock::now();
                          if (self->process()) self->read();
                        });
    });
  }

  // With nothing of a frame held: one read into the worker's buffer now, else a wait for the
  // socket with no buffer held. What the read leaves of a frame moves to `in`.
  void read_shared() {
    std::byte* buf = hub.read_buffer_.data();
    boost::system::error_code ec;
    int want = SSL_ERROR_WANT_READ;
    std::size_t n = 0;
    if (tls) {
      n = tls->read_now(buf, hub.read_buffer_.size(), want, ec);
    } else {
      n = plain->read_some(asio::buffer(hub.read_buffer_), ec);
      if (ec == asio::error::would_block || ec == asio::error::try_again) ec = {};
    }
    if (ec) return close();
    if (n == 0) {
      auto resume = [self = shared_from_this()](const boost::system::error_code& e) {
        if (!self->open) return;
        if (e) return self->close();
        self->read();
      };
      if (tls) tls->async_wait(want, std::move(resume));
      else plain->async_wait(tcp::socket::wait_read, std::move(resume));
      return;
    }
    last_rx = SteadyClock::now();
    std::size_t need = 0;
    const auto used = deliver(buf, n, need);
    if (!used) return;
    if (*used < n || peer) {  // the rest of the frame, or the splice's bytes, are read into `in`
      have = n - *used;
      in.resize(std::max({kInitialBuffer, need, have}));
      std::memcpy(in.data(), buf + *used, have);
      if (peer && !forward_to_peer()) return;
    }
    // The next read waits its turn behind the worker's other handlers.
    asio::post(hub.io_, [self = shared_from_this()] { self->read(); });
  }

  // Hands every complete frame of `data` to the TURN core and sends what it answered: the bytes
  // used, or nullopt if the connection was closed. `need`: the size of the frame left
  // incomplete, when its header is in.
  std::optional<std::size_t> deliver(const std::byte* data, std::size_t size, std::size_t& need) {
    std::size_t pos = 0;
    const turn::Now now = hub.now_();
    bool delivered = false;
    while (true) {
      const std::byte* f = data + pos;
      const auto frame = stun::next_stream_frame(Bytes{f, size - pos}, hub.options_.max_frame);
      using S = stun::StreamFrame::Status;
      if (frame.status == S::malformed || frame.status == S::too_large) {
        ++hub.counters_.closed_malformed;  // a stream cannot resynchronise after garbage
        close();
        return std::nullopt;
      }
      if (frame.status == S::incomplete) {
        need = frame.size;
        break;
      }
      if (hub.outbox_.full()) hub.flush_();
      hub.server_.on_client_datagram(now, tuple.listener, tuple.client, Bytes{f, frame.message}, hub.outbox_);
      delivered = true;
      established = true;
      pos += frame.size;
      if (peer) break;  // a ConnectionBind succeeded: what follows is raw data for the peer
    }
    if (delivered) hub.flush_();  // payloads point into `data`: send before it is reused
    if (!open) return std::nullopt;
    return pos;
  }

  // After a read into `in`: hands every complete frame to the TURN core; false if the
  // connection was closed.
  bool process() {
    if (peer) return forward_to_peer();
    std::size_t need = 0;
    const auto used = deliver(in.data(), have, need);
    if (!used) return false;
    if (*used > 0) {
      std::memmove(in.data(), in.data() + *used, have - *used);
      have -= *used;
    }
    if (peer) return forward_to_peer();  // read() gives `in` the splice's size
    if (have == 0) {
      std::vector<std::byte>().swap(in);  // the frame is done: give the buffer back
      return true;
    }
    if (in.size() < need) in.resize(need);
    if (have == in.size()) in.resize(std::min(in.size() * 2, hub.options_.max_frame + 4));
    return true;
  }

  // ---- RFC 6062 splice ----

  void start_splice(int fd, std::uint32_t id) {
    boost::system::error_code ec;
    peer.emplace(hub.io_);
    const bool v4 = lowest().local_endpoint(ec).address().is_v4();
    peer->assign(v4 ? tcp::v4() : tcp::v6(), fd, ec);
    if (ec) ::close(fd);
    splice_id = id;
    from_peer.resize(kSpliceChunk);
    ++hub.counters_.spliced;
    read_peer();
  }

  // Client bytes in `in` go to the peer; false while the peer is behind (reading resumes
  // when it catches up).
  bool forward_to_peer() {
    hub.counters_.spliced_to_peer_bytes += have;
    to_peer.insert(to_peer.end(), in.data(), in.data() + have);
    have = 0;
    if (!peer_write_busy) write_peer();
    client_paused = to_peer.size() >= kSpliceBacklog;
    return !client_paused;
  }

  void write_peer() {
    if (to_peer.empty() || !open) return;
    to_peer_writing.swap(to_peer);
    to_peer.clear();
    peer_write_busy = true;
    asio::async_write(*peer, asio::buffer(to_peer_writing),
                      [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                        self->peer_write_busy = false;
                        self->to_peer_writing.clear();
                        if (!self->open) return;
                        if (ec) return self->close();
                        self->write_peer();
                        if (self->client_paused && self->to_peer.size() < kSpliceBacklog && !self->linger) {
                          self->client_paused = false;
                          self->read();
                        }
                        self->maybe_finish();
                      });
  }

  void read_peer() {
    peer->async_read_some(asio::buffer(from_peer),
                          [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
                            if (!self->open) return;
                            if (ec) return self->end_splice();
                            self->last_rx = SteadyClock::now();
                            self->hub.counters_.spliced_to_client_bytes += n;
                            self->append(self->from_peer.data(), n);
                            self->peer_paused = self->pending.size() >= self->hub.options_.send_buffer;
                            if (!self->peer_paused) self->read_peer();
                          });
  }

  // One side has finished: what the other still has to write is written, then both close.
  void end_splice() {
    linger = true;
    maybe_finish();
  }
  void maybe_finish() {
    if (linger && !write_busy && !peer_write_busy && pending.empty() && to_peer.empty()) close();
  }

  // Bytes for the client as they are: no framing, no ChannelData padding.
  void append(const std::byte* data, std::size_t size) {
    pending.insert(pending.end(), data, data + size);
    if (record_per_frame) pending_frames.push_back(pending.size());
    if (!write_busy) start_write();
  }

  bool write(const std::byte* data, std::size_t size) {
    if (!open) return false;
    const std::size_t pad = stun::first_byte_is_channel_data(data[0]) ? (4 - size % 4) % 4 : 0;
    if (pending.size() + size + pad > hub.options_.send_buffer) {
      ++hub.counters_.slow_reader_drops;
      return false;
    }
    pending.insert(pending.end(), data, data + size);
    pending.insert(pending.end(), pad, std::byte{0});
    if (record_per_frame) pending_frames.push_back(pending.size());
    if (!write_busy) start_write();
    return true;
  }

  void start_write() {
    writing.swap(pending);
    pending.clear();
    writing_frames.swap(pending_frames);
    pending_frames.clear();
    written_frames = 0;
    write_busy = true;
    if (record_per_frame) return write_next_frame();
    with_stream([&](auto& s) {
      asio::async_write(s, asio::buffer(writing), [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
        self->write_done(ec);
      });
    });
  }

  // TLS: one write per frame, so each frame gets its own (padded) record.
  void write_next_frame() {
    if (written_frames == writing_frames.size()) return write_done({});
    const std::size_t begin = written_frames == 0 ? 0 : writing_frames[written_frames - 1];
    const std::size_t end = writing_frames[written_frames];
    asio::async_write(*tls, asio::buffer(writing.data() + begin, end - begin),
                      [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                        if (ec) return self->write_done(ec);
                        ++self->written_frames;
                        self->write_next_frame();
                      });
  }

  void write_done(const boost::system::error_code& ec) {
    write_busy = false;
    writing.clear();
    writing_frames.clear();
    if (ec) return close();
    if (open && !pending.empty()) start_write();
    if (open && peer_paused && pending.size() < hub.options_.send_buffer && !linger) {
      peer_paused = false;
      read_peer();
    }
    if (peer) maybe_finish();
  }

  void close() {
    if (!open) return;
    open = false;
    timer.cancel();
    boost::system::error_code ignored;
    lowest().shutdown(tcp::socket::shutdown_both, ignored);
    lowest().close(ignored);
    if (peer) {
      peer->shutdown(tcp::socket::shutdown_both, ignored);
      peer->close(ignored);
      hub.splice_closed(splice_id);
    }
    hub.closed(tuple, source);
  }
};

// ---- the hub ------------------------------------------------------------------------------

struct StreamHub::Acceptor {
  tcp::acceptor acceptor;
  std::uint16_t index;
  bool tls;
  asio::steady_timer retry;  // after a failure for want of descriptors (accept_retry.hpp)
};

StreamHub::StreamHub(asio::io_context& io, turn::Server& server, turn::Outbox& outbox, Flush flush, Clock now,
                     StreamOptions options, ConnectionLimits& limits)
    : io_(io), server_(server), outbox_(outbox), flush_(std::move(flush)), now_(std::move(now)),
      options_(options), limits_(limits), read_buffer_(kSharedReadBuffer) {}

StreamHub::~StreamHub() { close_all(); }

void StreamHub::listen(const Endpoint& at, bool tls, bool exclusive) {
  std::uint16_t index = tls ? turn::kTlsListenerBase : turn::kTcpListenerBase;
  for (const auto& a : acceptors_) index += a->tls == tls;
  auto fd = open_tcp_listener(at, 1024, exclusive);
  if (!fd) throw std::runtime_error("cannot listen on TCP " + at.to_string() + ": " + fd.error().message);
  tcp::acceptor acc(io_);
  boost::system::error_code ec;
  acc.assign(at.ip.is_v4() ? tcp::v4() : tcp::v6(), *fd, ec);
  if (ec) {
    ::close(*fd);
    throw std::runtime_error("cannot listen on TCP " + at.to_string() + ": " + ec.message());
  }
  acceptors_.push_back(std::make_unique<Acceptor>(Acceptor{std::move(acc), index, tls, asio::steady_timer(io_)}));
}

void StreamHub::start() {
  for (auto& a : acceptors_) accept(*a);
}

void StreamHub::accept(Acceptor& a) {
  a.acceptor.async_accept([this, &a](const boost::system::error_code& ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || closing_) return;
    if (!ec) {
      boost::system::error_code e2;
      const auto peer = socket.remote_endpoint(e2);
      if (!e2) {
        const Endpoint client = to_endpoint(peer);
        if ((a.tls && !tls_) || !limits_.acquire(client.ip)) {
          ++counters_.refused;
          socket.close(e2);
        } else {
          socket.set_option(tcp::no_delay(true), e2);
          ++counters_.accepted;
          const turn::FiveTuple tuple{a.index, client};
          auto conn = std::make_shared<Conn>(*this, tuple, std::move(socket), a.tls ? tls_ : nullptr);
          if (auto old = conns_.find(tuple); old != conns_.end()) old->second->close();
          conns_[tuple] = conn;
          conn->start();
        }
      }
    }
    accept_again(ec, a.retry, [this, &a] {
      if (!closing_) accept(a);
    });
  });
}

bool StreamHub::send(const turn::Transmit& t) {
  auto it = conns_.find(turn::FiveTuple{static_cast<std::uint16_t>(t.socket), t.to});
  if (it == conns_.end()) return false;
  return it->second->write(t.data, t.size);
}

bool StreamHub::splice(const turn::FiveTuple& data, int fd, std::uint32_t id) {
  auto it = conns_.find(data);
  if (it == conns_.end() || it->second->peer) {
    ::close(fd);
    return false;
  }
  splices_[id] = it->second;
  it->second->start_splice(fd, id);
  return true;
}

void StreamHub::close_splice(std::uint32_t id) {
  auto it = splices_.find(id);
  if (it == splices_.end()) return;
  if (auto c = it->second.lock()) c->close();
}

void StreamHub::splice_closed(std::uint32_t id) {
  splices_.erase(id);
  if (splice_end_) splice_end_(id);
}

void StreamHub::closed(const turn::FiveTuple& t, const IpAddress& source) {
  limits_.release(source);
  conns_.erase(t);
  if (!closing_) server_.on_stream_closed(t);
}

void StreamHub::close_all() {
  closing_ = true;
  for (auto& a : acceptors_) {
    boost::system::error_code ignored;
    a->acceptor.close(ignored);
    a->retry.cancel();
  }
  std::vector<std::shared_ptr<Conn>> all;
  for (auto& [t, c] : conns_) all.push_back(c);
  for (auto& c : all) c->close();
}

}  // namespace hush::net
