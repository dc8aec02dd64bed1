// TURN over DTLS (RFC 7350) on the UDP side of each --tls-listen address, for one worker.
// One UDP socket per address and worker (SO_REUSEPORT: the kernel keeps a client on one
// worker). A client must first echo a stateless cookie (DTLSv1_listen, HelloVerifyRequest):
// no state is kept for a source address until it has proved it receives there. Each session
// is one TURN client, named by a listener index from turn::kDtlsListenerBase and its address;
// every decrypted record goes to the worker's turn::Server like a UDP datagram.
// Records are sent as they are written, one datagram each (an OpenSSL BIO of our own on the
// worker's socket), so datagram boundaries survive.
#pragma once

#include <openssl/ssl.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "hush/base/result.hpp"
#include "hush/net/streams.hpp"
#include "hush/turn/server.hpp"

namespace hush::net {

using DtlsContext = std::shared_ptr<SSL_CTX>;

// DTLS 1.2 server context with the TLS context's rules: AEAD suites, ALPN "stun.turn",
// cookie exchange. Errors name the file.
Result<DtlsContext, std::string> make_dtls_context(const std::string& cert, const std::string& key);

// The comprehension-optional attribute that pads Data indications on DTLS legs with
// --padding (RFC 8489 §14: a client ignores what it does not understand in that range).
// Unregistered; PADDING (0x0026) is comprehension-required and would make clients drop it.
inline constexpr std::uint16_t kPaddingAttribute = 0xFF10;

class DtlsHub {
 public:
  using Flush = std::function<void()>;
  DtlsHub(turn::Server& server, turn::Outbox& outbox, Flush flush, StreamOptions options, ConnectionLimits& limits);
  ~DtlsHub();
  DtlsHub(const DtlsHub&) = delete;
  DtlsHub& operator=(const DtlsHub&) = delete;

  // The worker's UDP socket for DTLS listener `index` (in order, from 0).
  void add_socket(int fd);
  void set_context(DtlsContext ctx) { ctx_ = std::move(ctx); }
  void set_options(const StreamOptions& o) { options_ = o; }

  // One datagram that arrived on socket `index`.
  void on_datagram(const turn::Now& now, std::size_t index, const Endpoint& from, const std::byte* data,
                   std::size_t size);
  // An answer or a relayed packet for a DTLS client; false if there is no session for it.
  bool send(const turn::Transmit& t);
  // Handshake retransmissions, handshake and idle timeouts.
  void on_tick(const turn::Now& now);
  void close_all();

  const StreamCounters& counters() const { return counters_; }
  std::size_t sessions() const { return sessions_.size(); }

  struct Session;   // the implementation's
  struct Listener;  // a DTLSv1_listen state per socket

 private:
  void run(Session& s, const turn::Now& now);  // drive the handshake, deliver records
  void close(const turn::FiveTuple& t, bool notify);

  turn::Server& server_;
  turn::Outbox& outbox_;
  Flush flush_;
  StreamOptions options_;
  ConnectionLimits& limits_;
  DtlsContext ctx_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::unordered_map<turn::FiveTuple, std::unique_ptr<Session>> sessions_;
  std::vector<std::byte> plain_;    // one decrypted record
  std::vector<std::byte> padded_;   // one padded record to send
  StreamCounters counters_;
  bool closing_ = false;
};

}  // namespace hush::net
