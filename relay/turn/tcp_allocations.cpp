// RFC 6062: Connect (§5.2), ConnectionBind (§5.3) and ConnectionAttempt (§5.4) for TCP
// allocations. The sockets live in the network layer behind TcpRelayHost.
#include <algorithm>

#include "server_request.hpp"

namespace hush::turn {

namespace attr = stun::attr;
namespace error = stun::error;
using stun::Class;
using stun::Method;

namespace {

// Drops connections the network layer has closed (peer or client hung up, bind timeout).
void forget_closed(Allocation& a, const TcpRelayHost& host) {
  std::erase_if(a.tcp_connections, [&](const TcpConnection& c) { return !host.alive(c.id); });
}

std::optional<std::uint32_t> connection_id(const stun::MessageView& m) {
  auto v = m.find_u32(attr::connection_id);
  if (!v || *v == 0) return std::nullopt;
  return *v;
}

}  // namespace

void Server::handle_connect(const Request& r, Allocation& a, Outbox& out) {
  if (!a.tcp) return reply_error(r, error::bad_request, &a, out);
  auto peer_attr = r.msg.find(attr::xor_peer_address);
  if (!peer_attr) return reply_error(r, error::bad_request, &a, out);
  auto decoded = stun::decode_xor_address(*peer_attr, r.msg.transaction_id_ptr());
  if (!decoded || decoded->port == 0) return reply_error(r, error::bad_request, &a, out);
  const Endpoint peer = internal_peer(a, *decoded);
  const RelaySocket* relay = a.relay_for(peer.ip.family());
  if (relay == nullptr) return reply_error(r, error::peer_address_family_mismatch, &a, out);
  // The same rules as for UDP: the peer policy, then a permission installed by CreatePermission.
  if (!peer_allowed(peer)) return refuse_peer(r, peer.ip, a, out);
  if (!a.permissions.contains(peer.ip, r.now.mono)) return reply_error(r, error::forbidden, &a, out);
  forget_closed(a, *tcp_);
  // §5.2: 446 for a second Connect to the same peer. A connection the peer opened does not
  // count: coturn and its uclient both treat a Connect back to such a peer as a new attempt
  // (which the kernel refuses when the two would share one TCP 4-tuple: then 447).
  for (const auto& c : a.tcp_connections)
    if (c.outbound && c.peer == peer) return reply_error(r, error::connection_already_exists, &a, out);
  if (a.tcp_connections.size() >= kMaxTcpConnections)
    return reply_error(r, error::insufficient_capacity, &a, out);
  auto id = tcp_->connect(relay->handle, peer, a.username);
  if (!id) return reply_error(r, error::connection_timeout_or_failure, &a, out);
  a.tcp_connections.push_back(TcpConnection{*id, peer, true});
  // Answered by on_tcp_connected. Not cached: requests over TCP are not retransmitted.
  pending_connects_[*id] = PendingConnect{a.id, r.tuple, r.msg.transaction_id(), r.creds, r.msg.has_fingerprint()};
}

void Server::on_tcp_connected(const Now&, std::uint32_t id, bool ok, Outbox& out) {
  auto it = pending_connects_.find(id);
  if (it == pending_connects_.end()) return tcp_->close_connection(id);
  const PendingConnect p = it->second;
  pending_connects_.erase(it);
  Allocation* a = by_id(p.allocation);
  if (a == nullptr) return tcp_->close_connection(id);
  if (!ok) {
    tcp_->close_connection(id);
    std::erase_if(a->tcp_connections, [&](const TcpConnection& c) { return c.id == id; });
  }
  stun::MessageBuilder b(out.scratch(), Method::connect, ok ? Class::success : Class::error, p.transaction.data());
  if (ok) b.add_u32(attr::connection_id, id);
  else b.add_error(error::connection_timeout_or_failure);
  sign(b, p.creds, p.fingerprint);
  auto msg = b.finish();
  if (!msg) return;
  if (!ok) ++counters_.error_responses[error::connection_timeout_or_failure];
  const Bytes sent = out.commit(msg->size());
  if (!out.send(Transmit{Transmit::Via::listener, p.client.listener, p.client.client, sent.data(),
                         static_cast<std::uint32_t>(sent.size())}))
    counters_.drop(Drop::outbox_full);
}

bool Server::on_tcp_peer(const Now& now, std::uint32_t listener, const Endpoint& peer, std::uint32_t id,
                         Outbox& out) {
  Allocation* found = by_relay(listener);
  if (found == nullptr || !found->tcp) return false;
  Allocation& a = *found;
  // §5.4: only peers the client has given a permission to, and the peer policy applies as
  // to a Connect (a host peer's port is checked again); others are refused.
  if (!a.permissions.contains(peer.ip, now.mono)) {
    counters_.drop(Drop::no_permission);
    return false;
  }
  if (!peer_allowed(peer)) {
    counters_.drop(Drop::peer_denied);
    return false;
  }
  forget_closed(a, *tcp_);
  if (a.tcp_connections.size() >= kMaxTcpConnections) return false;
  std::byte tid[stun::kTransactionIdSize];
  next_indication_id(tid);
  stun::MessageBuilder b(out.scratch(), Method::connection_attempt, Class::indication, tid);
  b.add_u32(attr::connection_id, id);
  b.add_xor_address(attr::xor_peer_address, reported_peer(a, peer));
  auto msg = b.finish();
  if (!msg) return false;
  const Bytes sent = out.commit(msg->size());
  if (!out.send(Transmit{Transmit::Via::listener, a.client.listener, a.client.client, sent.data(),
                         static_cast<std::uint32_t>(sent.size())})) {
    counters_.drop(Drop::outbox_full);
    return false;
  }
  a.tcp_connections.push_back(TcpConnection{id, peer, false});
  return true;
}

void Server::handle_connection_bind(const Request& r, const Allocation* a, Outbox& out) {
  // §5.3: on a new TCP or TLS connection of its own, never on the control connection.
  const Transport over = transport_of(r.tuple.listener);
  auto id = connection_id(r.msg);
  if (a != nullptr || (over != Transport::tcp && over != Transport::tls) || !id || tcp_ == nullptr ||
      !tcp_->bind(r.tuple, *id, r.creds.username))
    return reply_error(r, error::bad_request, nullptr, out);
  reply_authenticated(r, nullptr, out, [](stun::MessageBuilder&) {});
}

}  // namespace hush::turn
