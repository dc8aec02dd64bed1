// RFC 8656 §7.2 (Allocate) and §7.3 (Refresh), with RFC 8656 §18.11 ADDRESS-ERROR-CODE
// for dual-stack allocations that get only one family.
#include <algorithm>

#include "server_request.hpp"

namespace hush::turn {

namespace attr = stun::attr;
namespace error = stun::error;

namespace {

std::optional<Family> family_from(Bytes value) {
  if (value.size() != 4) return std::nullopt;
  switch (std::to_integer<std::uint8_t>(value[0])) {
    case stun::kFamilyIpv4: return Family::v4;
    case stun::kFamilyIpv6: return Family::v6;
    default: return std::nullopt;
  }
}

void add_address_error(stun::MessageBuilder& b, Family f, int code, std::uint16_t type) {
  const std::string_view reason = error::reason(code);
  std::byte v[4 + 32] = {};
  v[0] = std::byte{f == Family::v4 ? stun::kFamilyIpv4 : stun::kFamilyIpv6};
  v[2] = std::byte{static_cast<std::uint8_t>(code / 100)};
  v[3] = std::byte{static_cast<std::uint8_t>(code % 100)};
  const std::size_t n = std::min(reason.size(), std::size_t{32});
  for (std::size_t i = 0; i < n; ++i) v[4 + i] = static_cast<std::byte>(reason[i]);
  b.add(type, {v, 4 + n});
}

}  // namespace

std::optional<std::pair<RelaySocket, std::optional<RelaySocket>>> Server::open_relay(Family f, bool even,
                                                                                      bool reserve, bool df) {
  if (reserve) {
    auto pair = ports_.open_pair(f, df);
    if (!pair) return std::nullopt;
    return std::make_pair(pair->first, std::optional<RelaySocket>(pair->second));
  }
  auto s = ports_.open(f, even, df);
  if (!s) return std::nullopt;
  return std::make_pair(*s, std::optional<RelaySocket>{});
}

const Endpoint* Server::alternate_for(const Endpoint& client) const {
  for (const auto& ep : options_.alternate_servers)
    if (ep.ip.is_v4() == client.ip.is_v4()) return &ep;
  return nullptr;
}

void Server::refuse(const Request& r, Refusal why) {
  counters_.refuse(why);
  report(EventKind::allocation_refused, kRefusalNames[static_cast<std::size_t>(why)], r.tuple.client,
         r.creds.username);
}

void Server::refuse_allocate(const Request& r, Refusal why, int code, Outbox& out) {
  refuse(r, why);
  const Endpoint* alternate = alternate_for(r.tuple.client);
  if (alternate == nullptr) return reply_error(r, code, nullptr, out);
  // RFC 8489 §10: 300 with ALTERNATE-SERVER, integrity-protected like the request. Not
  // cached: a retransmission is asked again and may find room by then.
  ++counters_.allocations_redirected;
  reply_error(r, error::try_alternate, nullptr, out, {}, alternate);
}

void Server::handle_allocate(const Request& r, Outbox& out) {
  const auto& m = r.msg;
  if (find(r.tuple) != nullptr) return reply_error(r, error::allocation_mismatch, nullptr, out);

  auto transport = m.find(attr::requested_transport);
  if (!transport || transport->size() != 4) return reply_error(r, error::bad_request, nullptr, out);
  const auto protocol = std::to_integer<std::uint8_t>((*transport)[0]);
  const bool tcp = protocol == stun::kProtocolTcp;
  if ((protocol != stun::kProtocolUdp && !tcp) || (tcp && tcp_ == nullptr))
    return reply_error(r, error::unsupported_transport_protocol, nullptr, out);

  const bool dont_fragment = m.has(attr::dont_fragment);  // honoured: relayed sockets set DF
  auto even_port = m.find(attr::even_port);
  auto token = m.find(attr::reservation_token);
  auto requested_family = m.find(attr::requested_address_family);
  auto additional_family = m.find(attr::additional_address_family);
  const bool draft_dual = !additional_family && m.has(attr::additional_address_family_draft);
  if (draft_dual) additional_family = m.find(attr::additional_address_family_draft);
  if (tcp) {
    // RFC 6062 §5.1: only over TCP or TLS, and none of the UDP-only attributes (a dual-stack
    // TCP allocation is not defined either).
    const Transport over = transport_of(r.tuple.listener);
    if ((over != Transport::tcp && over != Transport::tls) || dont_fragment || even_port || token ||
        additional_family)
      return reply_error(r, error::bad_request, nullptr, out);
  }

  if (even_port && even_port->size() != 1) return reply_error(r, error::bad_request, nullptr, out);
  if (token && (token->size() != 8 || even_port || requested_family || additional_family))
    return reply_error(r, error::bad_request, nullptr, out);
  if (requested_family && additional_family) return reply_error(r, error::bad_request, nullptr, out);

  Family primary = options_.default_family == ServerOptions::DefaultFamily::v6     ? Family::v6
                   : options_.default_family == ServerOptions::DefaultFamily::keep ? r.tuple.client.ip.family()
                                                                                   : Family::v4;
  if (additional_family) primary = Family::v4;  // §7.2: a dual allocation is IPv4 and IPv6
  if (requested_family) {
    auto f = family_from(*requested_family);
    if (!f) return reply_error(r, error::address_family_not_supported, nullptr, out);
    primary = *f;
  }
  bool dual = false;
  if (additional_family) {
    // §7.2: ADDITIONAL-ADDRESS-FAMILY may only ask for IPv6, next to the default IPv4.
    if (family_from(*additional_family) != Family::v6) return reply_error(r, error::bad_request, nullptr, out);
    dual = true;
  }
  const bool reserve = even_port && (std::to_integer<std::uint8_t>((*even_port)[0]) & 0x80);
  // One reservation token names one port: reserving for a pair of families is not defined.
  if (reserve && dual) return reply_error(r, error::bad_request, nullptr, out);
  const bool primary_enabled = primary == Family::v4 ? options_.relay_v4 : options_.relay_v6;
  if (!token && !primary_enabled) return reply_error(r, error::address_family_not_supported, nullptr, out);

  if (draining_) return refuse_allocate(r, Refusal::draining, error::insufficient_capacity, out);
  if (quota_ != nullptr) {
    switch (quota_->acquire(r.creds.username, r.tuple.client.ip)) {
      case QuotaResult::ok: break;
      case QuotaResult::over_total: return refuse_allocate(r, Refusal::over_total, error::insufficient_capacity, out);
      case QuotaResult::over_user:
        refuse(r, Refusal::over_user);
        return reply_error(r, error::allocation_quota_reached, nullptr, out);
      case QuotaResult::over_source:
        refuse(r, Refusal::over_source);
        return reply_error(r, error::allocation_quota_reached, nullptr, out);
    }
  }

  std::optional<RelaySocket> first;
  std::optional<RelaySocket> second;
  std::optional<RelaySocket> reserved_next;
  int second_error = 0;
  if (token) {
    std::uint64_t value = 0;
    for (std::byte b : *token) value = (value << 8) | std::to_integer<std::uint64_t>(b);
    if (auto reserved = reservations_->take(value); reserved && ports_.adopt(*reserved)) first = *reserved;
  } else if (tcp) {
    first = tcp_->listen(primary, r.creds.username);
  } else if (auto opened = open_relay(primary, even_port.has_value(), reserve, dont_fragment)) {
    first = opened->first;
    reserved_next = opened->second;
  }
  if (!first) {
    if (quota_ != nullptr) quota_->release(r.creds.username, r.tuple.client.ip);
    return refuse_allocate(r, Refusal::no_port, error::insufficient_capacity, out);
  }
  if (dual) {
    if (!options_.relay_v6) second_error = error::address_family_not_supported;
    else if (auto s = ports_.open(Family::v6, false, dont_fragment)) second = *s;
    else second_error = error::insufficient_capacity;
  }

  std::uint64_t reservation_token = 0;
  if (reserved_next) {
    if (auto t = reservations_->put(*reserved_next, r.now.mono + options_.reservation_lifetime))
      reservation_token = *t;
    else
      ports_.discard(*reserved_next);
  }

  Seconds lifetime = options_.default_lifetime;
  if (auto requested = m.find_u32(attr::lifetime))
    lifetime = std::max(options_.default_lifetime, std::min(Seconds{*requested}, options_.max_lifetime));

  auto owned = std::make_unique<Allocation>();
  Allocation& a = *owned;
  a.id = next_id_++;
  a.client = r.tuple;
  a.username = r.creds.username;
  a.created = r.now.mono;
  a.expires = r.now.mono + lifetime;
  a.tcp = tcp;
  for (const auto& s : {first, second}) {
    if (!s) continue;
    (s->local.ip.is_v4() ? a.relay_v4 : a.relay_v6) = *s;
    if (by_relay_.size() <= s->handle) by_relay_.resize(s->handle + 1, nullptr);
    by_relay_[s->handle] = &a;
    if (live_ports_ != nullptr) live_ports_->set_live(s->local.ip.family(), s->local.port, true);
  }
  by_client_.insert_or_assign(r.tuple, &a);
  allocations_.emplace(a.id, std::move(owned));
  schedule(a);
  ++counters_.allocations_created;
  report(EventKind::allocation_created, {}, a.client.client, a.username);
  const Transport over = transport_of(r.tuple.listener);
  if (options_.cover && options_.smoothing.count() > 0 && !tcp && (over == Transport::tls || over == Transport::dtls))
    start_cover(a);

  reply_authenticated(r, &a, out, [&](stun::MessageBuilder& b) {
    if (a.relay_v4) b.add_xor_address(attr::xor_relayed_address, reported(*a.relay_v4));
    if (a.relay_v6) b.add_xor_address(attr::xor_relayed_address, reported(*a.relay_v6));
    b.add_u32(attr::lifetime, static_cast<std::uint32_t>(lifetime.count()));
    if (reservation_token != 0) {
      std::byte t[8];
      for (int i = 0; i < 8; ++i) t[i] = std::byte{static_cast<std::uint8_t>(reservation_token >> (56 - 8 * i))};
      b.add(attr::reservation_token, t);
    }
    b.add_xor_address(attr::xor_mapped_address, r.tuple.client);
    if (second_error != 0)
      add_address_error(b, Family::v6, second_error,
                        draft_dual ? attr::address_error_code_draft : attr::address_error_code);
  });
}

void Server::handle_refresh(const Request& r, Allocation& a, Outbox& out) {
  if (auto f = r.msg.find(attr::requested_address_family)) {
    auto family = family_from(*f);
    if (!family || !a.has_family(*family)) return reply_error(r, error::peer_address_family_mismatch, &a, out);
  }
  auto requested = r.msg.find_u32(attr::lifetime);
  if (requested && *requested == 0) {
    // Deleted now; a retransmission will get 437, which §7.3 tells clients to accept.
    reply_authenticated(r, nullptr, out, [](stun::MessageBuilder& b) { b.add_u32(attr::lifetime, 0); });
    ++counters_.allocations_deleted;
    report(EventKind::allocation_deleted, {}, a.client.client, a.username);
    return retire(a, r.now);
  }
  const Seconds lifetime =
      requested ? std::min(Seconds{*requested}, options_.max_lifetime) : options_.default_lifetime;
  a.expires = r.now.mono + lifetime;
  schedule(a);
  reply_authenticated(r, &a, out, [&](stun::MessageBuilder& b) {
    b.add_u32(attr::lifetime, static_cast<std::uint32_t>(lifetime.count()));
  });
}

}  // namespace hush::turn
