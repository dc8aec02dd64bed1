// RFC 8656 §5-7 and RFC 8489 §6: request dispatch, authentication, responses, expiry.
// Method handlers live in allocate.cpp, permission_requests.cpp and relay_data.cpp.
#include "hush/turn/server.hpp"

#include <algorithm>
#include <cstring>

#include "hush/auth/secret_set.hpp"
#include "hush/stun/channel_data.hpp"
#include "server_request.hpp"

namespace hush::turn {

using stun::Class;
using stun::Method;
namespace attr = stun::attr;

bool known_request_attribute(std::uint16_t type) {
  switch (type) {
    case attr::username: case attr::realm: case attr::nonce: case attr::channel_number:
    case attr::lifetime: case attr::xor_peer_address: case attr::data:
    case attr::requested_address_family: case attr::even_port: case attr::requested_transport:
    case attr::dont_fragment: case attr::reservation_token: case attr::password_algorithm:
    case attr::priority: case attr::use_candidate: case attr::connection_id:
      return true;
    default:
      return !attr::comprehension_required(type);
  }
}

Server::Server(ServerOptions options, std::shared_ptr<const Snapshot> snapshot, RelayPortAllocator& ports,
               policy::RelayPortRegistry* live_ports, Quotas* quota, ReservationTable* reservations)
    : options_(std::move(options)),
      snapshot_(std::move(snapshot)),
      ports_(ports),
      live_ports_(live_ports),
      quota_(quota),
      unauth_limiter_(options_.unauth_rate, options_.unauth_burst),
      blocker_(options_.block),
      reservations_(reservations != nullptr ? reservations : &own_reservations_) {
  auth::random_bytes(&txid_state_, sizeof txid_state_);
  txid_state_ |= 1;
}

Server::~Server() { clear(); }

void Server::set_options(const ServerOptions& o) {
  const ServerOptions fixed = options_;
  const bool rate_changed = o.unauth_rate != options_.unauth_rate || o.unauth_burst != options_.unauth_burst;
  const bool block_changed = o.block.strikes != options_.block.strikes || o.block.window_ns != options_.block.window_ns ||
                             o.block.block_ns != options_.block.block_ns || o.block.slots != options_.block.slots;
  options_ = o;
  options_.relay_v4 = fixed.relay_v4;
  options_.relay_v6 = fixed.relay_v6;
  options_.external_ip_v4 = fixed.external_ip_v4;
  options_.external_ip_v6 = fixed.external_ip_v6;
  options_.smoothing = fixed.smoothing;  // the worker's timer follows the value it started with
  options_.cover = fixed.cover;
  options_.nat_listeners = fixed.nat_listeners;  // the listeners are opened once
  if (rate_changed) unauth_limiter_ = policy::PrefixRateLimiter(options_.unauth_rate, options_.unauth_burst);
  if (block_changed) blocker_ = policy::SourceBlocker(options_.block);
  if (kernel_ != nullptr && options_.bandwidth_cap != 0)  // the kernel does not count bytes
    for (auto& [id, a] : allocations_) sync_kernel(*a, TimePoint{});
}

void Server::set_kernel_path(KernelPath* kernel, std::vector<Endpoint> listeners) {
  kernel_ = kernel;
  kernel_listeners_ = std::move(listeners);
}

bool Server::kernel_eligible(const Allocation& a) const {
  return kernel_ != nullptr && !a.tcp && transport_of(a.client.listener) == Transport::udp &&
         a.client.listener < kernel_listeners_.size() && !kernel_listeners_[a.client.listener].ip.is_unspecified() &&
         options_.smoothing.count() == 0 && options_.bandwidth_cap == 0;
}

bool Server::kernel_wanted(const Allocation& a, const ChannelBinding& c, TimePoint now) const {
  const RelaySocket* relay = a.relay_for(c.peer.ip.family());
  return kernel_eligible(a) && c.expires > now && a.permissions.contains(c.peer.ip, now) &&
         (!c.host_peer || peer_allowed(c.peer)) && relay != nullptr && !relay->local.ip.is_unspecified();
}

// A channel is in the kernel exactly while it is bound, its peer's permission is valid and,
// for a peer on this host, the peer policy still allows it (a live relayed address). Called
// whenever one of those may have changed: ChannelBind, CreatePermission, expiry, reload.
// Removals happen at once; installs wait for commit_kernel().
void Server::sync_kernel(Allocation& a, TimePoint now) {
  if (kernel_ == nullptr) return;
  std::erase_if(a.in_kernel, [&](const KernelFlow& f) {
    const ChannelBinding* c = a.channels.by_number(f.channel, now);
    if (c != nullptr && c->peer == f.peer && kernel_wanted(a, *c, now)) return false;
    kernel_->remove(f);
    return true;
  });
  if (!kernel_eligible(a)) return;
  for (const auto& c : a.channels.items()) {
    if (!kernel_wanted(a, c, now)) continue;
    bool present = false;
    for (const auto& f : a.in_kernel) present |= f.channel == c.number;
    for (const auto& p : kernel_pending_) present |= p.allocation == a.id && p.flow.channel == c.number;
    if (present) continue;
    kernel_pending_.push_back(PendingFlow{a.id, KernelFlow{a.client.client, kernel_listeners_[a.client.listener], c.number,
                                                           a.relay_for(c.peer.ip.family())->local, c.peer}});
  }
}

void Server::commit_kernel(TimePoint now) {
  for (const auto& [id, f] : kernel_pending_) {
    Allocation* found = by_id(id);
    if (found == nullptr) continue;  // deleted in the same batch
    Allocation& a = *found;
    const ChannelBinding* c = a.channels.by_number(f.channel, now);
    if (c == nullptr || c->peer != f.peer || !kernel_wanted(a, *c, now)) continue;
    if (kernel_->install(f)) a.in_kernel.push_back(f);
  }
  kernel_pending_.clear();
}

Gauges Server::gauges(TimePoint now) const {
  Gauges g;
  g.allocations = allocations_.size();
  for (const auto& [id, a] : allocations_) {
    ++g.allocations_by_transport[static_cast<std::size_t>(transport_of(a->client.listener))];
    if (a->relay_v4) ++g.relayed_addresses[0];
    if (a->relay_v6) ++g.relayed_addresses[1];
    for (const auto& p : a->permissions.items())
      if (p.expires > now) ++g.permissions[p.peer.is_v4() ? 0 : 1];
    for (const auto& c : a->channels.items())
      if (c.expires > now) ++g.channels[c.peer.ip.is_v4() ? 0 : 1];
  }
  return g;
}

const Allocation* Server::find(const FiveTuple& t) const {
  return by_client(t);
}

void Server::on_client_datagram(const Now& now, std::uint16_t listener, const Endpoint& from, Bytes d,
                                Outbox& out) {
  if (d.empty()) return counters_.drop(Drop::malformed);
  const FiveTuple t{listener, from};
  if (stun::first_byte_is_channel_data(d[0])) return handle_channel_data(now, t, d, out);
  if (!stun::first_byte_is_stun(d[0])) return counters_.drop(Drop::malformed);
  auto m = stun::MessageView::parse(d);
  if (!m) {
    if (d.size() >= stun::kHeaderSize && load_u32(d.data() + 4) != stun::kMagicCookie)
      return handle_classic_binding(now, t, d, out);
    return counters_.drop(Drop::malformed);
  }
  handle_stun(now, t, *m, out);
}

const ServerOptions::NatListener* Server::nat_at(std::uint16_t listener, int& ip, int& port) const {
  if (!options_.nat_listeners) return nullptr;
  for (int i = 0; i < 2; ++i)
    for (int p = 0; p < 2; ++p)
      if ((*options_.nat_listeners)[i][p].index == listener) {
        ip = i;
        port = p;
        return &(*options_.nat_listeners)[i][p];
      }
  return nullptr;
}

// RFC 8489 §11.2: a Binding request without the magic cookie comes from an RFC 3489 client
// (libnice's STUN usage sends these). It gets MAPPED-ADDRESS, not XOR-MAPPED-ADDRESS, and
// its 16-byte transaction id back; everything else without the cookie is dropped. RFC 3489
// NAT classifiers (pystun and the like) add CHANGE-REQUEST: on the four listeners of
// --other-address it is honoured, with SOURCE-ADDRESS and CHANGED-ADDRESS as RFC 3489 §11.2
// has them; anywhere else a change it asks for gets 420, because an answer from the same
// address would tell the client its NAT lets everything in.
void Server::handle_classic_binding(const Now& now, const FiveTuple& t, Bytes d, Outbox& out) {
  const std::size_t length = load_u16(d.data() + 2);
  if (load_u16(d.data()) != stun::message_type(Method::binding, Class::request) || length % 4 != 0 ||
      stun::kHeaderSize + length != d.size())
    return counters_.drop(Drop::malformed);
  std::uint32_t change = 0;
  for (std::size_t at = stun::kHeaderSize; at < d.size();) {
    if (d.size() - at < 4) return counters_.drop(Drop::malformed);
    const std::size_t len = load_u16(d.data() + at + 2);
    if (len > d.size() - at - 4) return counters_.drop(Drop::malformed);
    if (load_u16(d.data() + at) == attr::change_request && len == 4) change = load_u32(d.data() + at + 4) & 0x6;
    at += 4 + ((len + 3) & ~std::size_t{3});
  }
  ++counters_.binding_requests;
  if (!unauth_limiter_.allow(t.client.ip, now.mono_ns())) return counters_.drop(Drop::rate_limited);
  int ip = 0, port = 0;
  const ServerOptions::NatListener* here = nat_at(t.listener, ip, port);
  MutableBytes buf = out.scratch();
  std::byte* p = buf.data();
  if (buf.size() < stun::kHeaderSize + 3 * (4 + 4 + 16)) return;
  std::memcpy(p + 4, d.data() + 4, 16);  // the whole RFC 3489 transaction id
  std::size_t total = stun::kHeaderSize;
  auto put_address = [&](std::uint16_t type, const Endpoint& ep) {
    std::byte* a = p + total;
    store_u16(a, type);
    store_u16(a + 2, static_cast<std::uint16_t>(4 + ep.ip.size()));
    a[4] = std::byte{0};
    a[5] = std::byte{ep.ip.is_v4() ? stun::kFamilyIpv4 : stun::kFamilyIpv6};
    store_u16(a + 6, ep.port);
    std::memcpy(a + 8, ep.ip.data(), ep.ip.size());
    total += 8 + ep.ip.size();
  };
  std::uint16_t via = t.listener;
  if (change != 0 && here == nullptr) {
    store_u16(p, stun::message_type(Method::binding, Class::error));
    const std::byte error[8] = {std::byte{0}, std::byte{0}, std::byte{4}, std::byte{20},
                                std::byte{0}, std::byte{0}, std::byte{0}, std::byte{0}};
    store_u16(p + total, attr::error_code);
    store_u16(p + total + 2, 4);
    std::memcpy(p + total + 4, error, 4);
    store_u16(p + total + 8, attr::unknown_attributes);
    store_u16(p + total + 10, 4);  // RFC 3489 pads the list by repeating an attribute
    store_u16(p + total + 12, attr::change_request);
    store_u16(p + total + 14, attr::change_request);
    total += 16;
  } else {
    store_u16(p, stun::message_type(Method::binding, Class::success));
    put_address(attr::mapped_address, t.client);
    if (here != nullptr) {
      const auto& four = *options_.nat_listeners;
      const auto& from = four[ip ^ ((change & 0x4) != 0)][port ^ ((change & 0x2) != 0)];
      via = from.index;
      put_address(attr::source_address, from.address);
      put_address(attr::changed_address, four[ip ^ 1][port ^ 1].address);
    }
  }
  store_u16(p + 2, static_cast<std::uint16_t>(total - stun::kHeaderSize));
  if (total > 3 * d.size()) return counters_.drop(Drop::amplification);
  const Bytes answer = out.commit(total);
  if (!out.send(Transmit{Transmit::Via::listener, via, t.client, answer.data(), static_cast<std::uint32_t>(answer.size())}))
    counters_.drop(Drop::outbox_full);
}

void Server::handle_stun(const Now& now, const FiveTuple& t, const stun::MessageView& m, Outbox& out) {
  if (m.message_class() == Class::indication) {
    if (m.method() == Method::send) return handle_send(now, t, m, out);
    return counters_.drop(Drop::unknown_indication);
  }
  if (m.message_class() != Class::request) return counters_.drop(Drop::malformed);

  Request r{now, t, m, {}};
  if (m.method() == Method::binding) return handle_binding(r, out);
  // Before the response cache and any HMAC: a blocked source costs a table lookup.
  if (blocker_.blocked(t.client.ip, now.mono_ns())) return counters_.drop(Drop::blocked);

  Allocation* a = by_client(t);
  if (a != nullptr) {
    if (const auto* cached = a->responses.find(m.transaction_id_ptr())) {
      // A retransmission: the same answer again, without acting twice (RFC 8489 §6.3.1).
      // Copied into the outbox, which is sent once per batch: a later datagram of the same
      // batch may replace the cache entry or delete the allocation that holds it.
      const MutableBytes room = out.scratch();
      if (room.size() < cached->size()) return counters_.drop(Drop::outbox_full);
      std::memcpy(room.data(), cached->data(), cached->size());
      return emit(r, out.commit(cached->size()), out);
    }
  }

  const Method method = m.method();
  if (method != Method::allocate && method != Method::refresh && method != Method::create_permission &&
      method != Method::channel_bind && method != Method::connect && method != Method::connection_bind)
    return reply_unauthenticated(r, stun::error::bad_request, out);

  auto creds = snapshot_->auth.authenticate(m, now.unix, t.client);
  if (!creds) {
    switch (creds.error()) {
      case auth::AuthFailure::no_integrity:
        return reply_unauthenticated(r, stun::error::unauthorized, out, true);
      case auth::AuthFailure::missing_attributes:
        auth_failed(r, AuthFail::missing);
        return reply_unauthenticated(r, stun::error::bad_request, out);
      case auth::AuthFailure::stale_nonce:
        ++counters_.auth_failures[static_cast<std::size_t>(AuthFail::stale_nonce)];  // routine: not an event
        return reply_unauthenticated(r, stun::error::stale_nonce, out, true);
      case auth::AuthFailure::bad_username:
        auth_failed(r, AuthFail::bad_username);
        break;
      case auth::AuthFailure::expired_credential:
        auth_failed(r, AuthFail::expired);
        break;
      case auth::AuthFailure::bad_integrity:
        auth_failed(r, AuthFail::bad_integrity);
        break;
    }
    return reply_unauthenticated(r, stun::error::unauthorized, out, true);
  }
  r.creds = std::move(creds.value());

  std::uint16_t unknown[8];
  if (std::size_t n = m.unknown_required(known_request_attribute, unknown, 8))
    return reply_error(r, stun::error::unknown_attribute, a, out, {unknown, n});

  if (method == Method::allocate) return handle_allocate(r, out);
  if (method == Method::connection_bind) return handle_connection_bind(r, a, out);
  if (a == nullptr) return reply_error(r, stun::error::allocation_mismatch, nullptr, out);
  if (a->username != r.creds.username) {
    auth_failed(r, AuthFail::wrong_user);
    return reply_error(r, stun::error::wrong_credentials, nullptr, out);
  }
  switch (method) {
    case Method::refresh: return handle_refresh(r, *a, out);
    case Method::create_permission: return handle_create_permission(r, *a, out);
    case Method::connect: return handle_connect(r, *a, out);
    default: return handle_channel_bind(r, *a, out);
  }
}

void Server::report(EventKind kind, std::string_view reason, const Endpoint& client, std::string_view username) {
  if (events_ != nullptr) events_->on_event(Event{kind, reason, client, username});
}

void Server::auth_failed(const Request& r, AuthFail why) {
  ++counters_.auth_failures[static_cast<std::size_t>(why)];
  const auto user = r.msg.find_text(attr::username);
  report(EventKind::auth_failed, kAuthFailNames[static_cast<std::size_t>(why)], r.tuple.client,
         user ? *user : std::string_view{});
  // Every failure here came with a valid nonce, which was sent to the source's address: a
  // spoofer never receives one, so cannot get a victim blocked. Missing attributes can come
  // from anyone and are not counted.
  if (why != AuthFail::missing) strike(r);
}

void Server::refuse_peer(const Request& r, const IpAddress& peer, Allocation& a, Outbox& out) {
  if (snapshot_->peers.is_probe(peer)) strike(r);
  reply_error(r, stun::error::forbidden, &a, out);
}

void Server::strike(const Request& r) {
  if (!blocker_.strike(r.tuple.client.ip, r.now.mono_ns())) return;
  ++counters_.source_blocks;
  report(EventKind::source_blocked, {}, r.tuple.client, {});
}

void Server::handle_binding(const Request& r, Outbox& out) {
  ++counters_.binding_requests;
  int ip = 0, port = 0;
  const ServerOptions::NatListener* here = nat_at(r.tuple.listener, ip, port);
  std::uint16_t unknown[8];
  const auto known = here != nullptr ? +[](std::uint16_t t) { return t == attr::change_request || known_request_attribute(t); }
                                     : +[](std::uint16_t t) { return known_request_attribute(t); };
  if (std::size_t n = r.msg.unknown_required(known, unknown, 8))
    return reply_unauthenticated(r, stun::error::unknown_attribute, out, false, {unknown, n});
  const ServerOptions::NatListener* from = here;
  const Endpoint* other = nullptr;
  if (here != nullptr) {
    if (r.msg.has(attr::change_request)) {
      const auto flags = r.msg.find_u32(attr::change_request);
      if (!flags) return reply_unauthenticated(r, stun::error::bad_request, out, false);
      from = &(*options_.nat_listeners)[ip ^ ((*flags & 0x4) != 0)][port ^ ((*flags & 0x2) != 0)];
    }
    other = &(*options_.nat_listeners)[ip ^ 1][port ^ 1].address;
  }
  if (!unauth_limiter_.allow(r.tuple.client.ip, r.now.mono_ns())) return counters_.drop(Drop::rate_limited);
  // The RFC 5780 attributes go as far as the amplification bound allows: MAPPED-ADDRESS (for
  // ALG detection) first to go, then RESPONSE-ORIGIN and OTHER-ADDRESS; a bare 20-byte request
  // has room for those two.
  for (int extras = here != nullptr ? 2 : 0; extras >= 0; --extras) {
    stun::MessageBuilder b(out.scratch(), Method::binding, Class::success, r.msg.transaction_id_ptr());
    b.add_xor_address(attr::xor_mapped_address, r.tuple.client);
    if (extras >= 2) b.add_address(attr::mapped_address, r.tuple.client);
    if (extras >= 1) b.add_address(attr::response_origin, from->address).add_address(attr::other_address, *other);
    if (!options_.software.empty()) b.add_text(attr::software, options_.software);
    if (r.msg.has_fingerprint()) b.add_fingerprint();
    auto msg = b.finish();
    if (!msg) return;
    if (extras > 0 && msg->size() > 3 * r.msg.raw().size()) continue;
    if (!fits_amplification_bound(r, msg->size())) return;
    const Bytes answer = out.commit(msg->size());
    if (!out.send(Transmit{Transmit::Via::listener, from != nullptr ? from->index : r.tuple.listener, r.tuple.client,
                           answer.data(), static_cast<std::uint32_t>(answer.size())}))
      counters_.drop(Drop::outbox_full);
    return;
  }
}

bool Server::fits_amplification_bound(const Request& r, std::size_t response_size) {
  if (response_size <= 3 * r.msg.raw().size()) return true;
  counters_.drop(Drop::amplification);
  return false;
}

void Server::reply_unauthenticated(const Request& r, int code, Outbox& out, bool with_nonce,
                                   std::span<const std::uint16_t> unknown) {
  if (!unauth_limiter_.allow(r.tuple.client.ip, r.now.mono_ns())) return counters_.drop(Drop::rate_limited);
  char nonce[auth::NonceIssuer::kEncodedSize];
  if (with_nonce) snapshot_->auth.nonces().issue(r.now.unix, r.tuple.client, nonce);
  // Answers to unauthenticated requests stay within 3x the request (no reflection
  // amplifier): the reason phrase goes first if needed, then the answer itself.
  for (bool with_reason : {true, false}) {
    stun::MessageBuilder b(out.scratch(), r.msg.method(), Class::error, r.msg.transaction_id_ptr());
    b.add_error(code, with_reason ? stun::error::reason(code) : std::string_view{});
    if (!unknown.empty()) b.add_unknown_attributes(unknown);
    if (with_nonce) {
      b.add_text(attr::realm, snapshot_->auth.realm());
      b.add(attr::nonce, as_bytes({nonce, sizeof nonce}));
    }
    if (r.msg.has_fingerprint()) b.add_fingerprint();
    auto msg = b.finish();
    if (!msg) return;
    if (msg->size() <= 3 * r.msg.raw().size()) {
      if (code < 700) ++counters_.error_responses[static_cast<std::size_t>(code)];
      return emit(r, out.commit(msg->size()), out);
    }
  }
  counters_.drop(Drop::amplification);
}

void Server::reply_error(const Request& r, int code, Allocation* cache_in, Outbox& out,
                         std::span<const std::uint16_t> unknown, const Endpoint* alternate) {
  stun::MessageBuilder b(out.scratch(), r.msg.method(), Class::error, r.msg.transaction_id_ptr());
  b.add_error(code);
  if (!unknown.empty()) b.add_unknown_attributes(unknown);
  if (alternate != nullptr) b.add_address(attr::alternate_server, *alternate);
  sign(b, r.creds, r.msg.has_fingerprint());
  auto msg = b.finish();
  if (!msg) return;
  if (code < 700) ++counters_.error_responses[static_cast<std::size_t>(code)];
  Bytes sent = out.commit(msg->size());
  if (cache_in != nullptr) cache_in->responses.store(r.msg.transaction_id_ptr(), sent);
  emit(r, sent, out);
}

void Server::sign(stun::MessageBuilder& b, const auth::Credentials& creds, bool fingerprint) const {
  if (!options_.software.empty()) b.add_text(attr::software, options_.software);
  if (creds.sha1 || !creds.sha256) b.add_integrity(creds.key_bytes());
  if (creds.sha256) b.add_integrity_sha256(creds.key_bytes());
  if (fingerprint) b.add_fingerprint();
}

// A fast xorshift64 per worker, two steps for the 12 bytes, so ids show no repeating pattern.
void Server::next_indication_id(std::byte* id) {
  for (std::size_t at = 0; at < stun::kTransactionIdSize; at += 8) {
    txid_state_ ^= txid_state_ << 13;
    txid_state_ ^= txid_state_ >> 7;
    txid_state_ ^= txid_state_ << 17;
    std::memcpy(id + at, &txid_state_, std::min<std::size_t>(8, stun::kTransactionIdSize - at));
  }
}

void Server::emit(const Request& r, Bytes message, Outbox& out) {
  if (!out.send(Transmit{Transmit::Via::listener, r.tuple.listener, r.tuple.client, message.data(),
                         static_cast<std::uint32_t>(message.size())}))
    counters_.drop(Drop::outbox_full);
}

Endpoint Server::reported(const RelaySocket& s) const {
  const auto& ext = s.local.ip.is_v4() ? options_.external_ip_v4 : options_.external_ip_v6;
  return ext ? Endpoint{*ext, s.local.port} : s.local;
}

void Server::schedule(Allocation& a) {
  const TimePoint d = a.next_deadline();
  if (a.scheduled == TimePoint{} || d < a.scheduled) {
    a.scheduled = d;
    expiry_.schedule(d, a.id);
  }
}

void Server::on_timer(const Now& now) {
  std::uint64_t id;
  TimePoint when;
  while (expiry_.pop_due(now.mono, id, when)) {
    Allocation* found = by_id(id);
    if (found == nullptr) continue;
    Allocation& a = *found;
    if (when != a.scheduled) continue;  // superseded by an earlier deadline
    if (a.expires <= now.mono) {
      ++counters_.allocations_expired;
      report(EventKind::allocation_expired, {}, a.client.client, a.username);
      retire(a, now);
      continue;
    }
    a.permissions.purge(now.mono);
    a.channels.purge(now.mono);
    sync_kernel(a, now.mono);
    a.scheduled = a.next_deadline();
    expiry_.schedule(a.scheduled, a.id);
  }
  reservations_->expire(now.mono, [&](const RelaySocket& s) { ports_.discard(s); });
}

void Server::on_stream_closed(const FiveTuple& t) {
  Allocation* a = by_client(t);
  if (a == nullptr) return;
  ++counters_.allocations_closed;
  report(EventKind::allocation_deleted, "connection_closed", t.client, a->username);
  remove(*a);
}

void Server::retire(Allocation& a, const Now& now) {
  counters_.observe_lifetime(std::chrono::duration<double>(now.mono - a.created).count());
  remove(a);
}

void Server::remove(Allocation& a) {
  if (quota_ != nullptr) quota_->release(a.username, a.client.client.ip);
  for (const auto& c : a.tcp_connections) {  // RFC 6062 §5: they end with their allocation
    pending_connects_.erase(c.id);
    if (tcp_ != nullptr) tcp_->close_connection(c.id);
  }
  if (kernel_ != nullptr)
    for (const auto& f : a.in_kernel) kernel_->remove(f);
  for (const auto* s : {a.relay_for(Family::v4), a.relay_for(Family::v6)}) {
    if (s == nullptr) continue;
    if (kernel_ != nullptr && !a.tcp) kernel_->relay_closed(s->local);
    if (live_ports_ != nullptr) live_ports_->set_live(s->local.ip.family(), s->local.port, false);
    by_relay_[s->handle] = nullptr;
    if (a.tcp) {
      if (tcp_ != nullptr) tcp_->close_listener(s->handle);
    } else {
      ports_.close(s->handle);
    }
  }
  by_client_.erase(a.client);
  const std::uint64_t id = a.id;
  allocations_.erase(id);  // destroys a
}

void Server::clear() {
  while (!allocations_.empty()) remove(*allocations_.begin()->second);
  if (reservations_ == &own_reservations_)
    for (const auto& s : own_reservations_.drain()) ports_.discard(s);
}

}  // namespace hush::turn
