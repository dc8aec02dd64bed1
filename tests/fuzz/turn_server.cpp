// libFuzzer: the whole TURN state machine. The input is split into datagrams from a few
// clients and peers, with time advancing between them; nothing may crash, leak or hang.
#include <cstring>
#include <map>
#include <memory>

#include "fakes.hpp"
#include "hush/turn/server.hpp"

using namespace hush;
using namespace hush::fuzz;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Ports ports;
  policy::PeerPolicyConfig pc;
  pc.allow.push_back(*policy::Cidr::parse("0.0.0.0/0"));
  auto nonces = std::make_shared<const auth::NonceIssuer>(auth::NonceIssuer(std::array<std::uint8_t, 32>{}, 600));
  auto snap = std::make_shared<const turn::Snapshot>(
      turn::Snapshot{auth::Authenticator("hush", auth::SecretSet({"s"}), nonces), policy::PeerPolicy(pc, nullptr)});
  turn::ServerOptions options;
  options.relay_v6 = true;
  options.block.slots = 64;  // built per input: a small table, evictions reached too
  // RFC 5780 on: the UDP listener 0 is one of the four, so CHANGE-REQUEST is fuzzed too.
  using Nat = turn::ServerOptions::NatListener;
  options.nat_listeners = std::array<std::array<Nat, 2>, 2>{
      std::array<Nat, 2>{Nat{0, *Endpoint::parse("203.0.113.1:3478")}, Nat{1, *Endpoint::parse("203.0.113.1:3479")}},
      std::array<Nat, 2>{Nat{2, *Endpoint::parse("203.0.113.2:3478")}, Nat{3, *Endpoint::parse("203.0.113.2:3479")}}};
  if (size > 0 && (data[0] & 0x80)) {  // the first op's top bit: --smoothing 20ms --cover
    options.smoothing = std::chrono::milliseconds(20);
    options.cover = true;
  }
  TcpHost tcp;     // outlive the server, whose destructor closes what is left
  Kernel kernel;
  turn::Server server(options, snap, ports);
  server.set_tcp_host(&tcp);
  server.set_kernel_path(&kernel, {*Endpoint::parse("203.0.113.1:3478")});
  turn::Outbox out(64, 64 * 1024);
  turn::Now now{turn::TimePoint{} + std::chrono::hours(1), 1'700'000'000};
  std::vector<std::byte> peer_buf(turn::kPeerHeadroom + 70000);
  const Endpoint clients[2] = {*Endpoint::parse("192.0.2.1:1000"), *Endpoint::parse("[2001:db8::5]:1000")};
  const Endpoint peer = *Endpoint::parse("192.0.2.9:7000");

  // Frame: [op][len hi][len lo][bytes...]; op selects client/peer/time.
  std::size_t pos = 0;
  while (pos + 3 <= size) {
    const std::uint8_t op = data[pos];
    const std::size_t len = std::min<std::size_t>((data[pos + 1] << 8) | data[pos + 2], size - pos - 3);
    const auto* body = reinterpret_cast<const std::byte*>(data + pos + 3);
    pos += 3 + len;
    out.clear();
    switch (op % 4) {
      case 0:
      case 1:
        // Bit 4 of the op: over TCP, where RFC 6062 requests are allowed; bit 5: over TLS.
        server.on_client_datagram(now, (op & 0x10) ? turn::kTcpListenerBase : (op & 0x20) ? turn::kTlsListenerBase : 0,
                                  clients[op % 2], Bytes(body, len), out);
        break;
      case 2:
        // RFC 6062 events: a pending Connect's outcome, a peer connecting to a relayed address.
        if (!tcp.connecting.empty()) {
          const std::uint32_t id = tcp.connecting.back();
          tcp.connecting.pop_back();
          server.on_tcp_connected(now, id, len % 2 == 0, out);
        }
        if (!tcp.listeners.empty() && (op & 0x10)) {
          const std::uint32_t id = tcp.next++;
          tcp.connections[id] = false;
          if (!server.on_tcp_peer(now, tcp.listeners.begin()->first, peer, id, out)) tcp.close_connection(id);
        }
        if (!ports.open_sockets.empty() && (op & 0x40) && len >= 2) {
          // RFC 8656 §11.5: an ICMP error about a datagram to the peer; type and code from the input.
          server.on_peer_icmp(now, ports.open_sockets.begin()->first,
                              turn::Server::IcmpReport{peer, (op & 0x80) != 0, std::to_integer<std::uint8_t>(body[0]),
                                                       std::to_integer<std::uint8_t>(body[1]),
                                                       static_cast<std::uint32_t>(len)},
                              out);
        }
        if (!ports.open_sockets.empty()) {
          std::memcpy(peer_buf.data() + turn::kPeerHeadroom, body, len);
          server.on_peer_datagram(now, ports.open_sockets.begin()->first, peer, peer_buf.data() + turn::kPeerHeadroom,
                                  len, out);
        }
        break;
      default:
        now.mono += std::chrono::seconds(op);
        now.unix += op;
        server.on_timer(now);
        while (server.release_due(now, out)) out.clear();
    }
    server.commit_kernel(now.mono);  // the worker commits after flushing
    for (const auto& t : out.transmits())
      if (t.size > 0 && (t.data == nullptr)) __builtin_trap();
  }
  return 0;
}
