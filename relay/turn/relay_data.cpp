// The packet path. RFC 8656 §10 (Send and Data indications) and §12 (ChannelData).
// Per packet: hash lookups and small linear scans, no allocation, no lock, no copy of payload.
#include <algorithm>
#include <cstring>

#include "hush/stun/channel_data.hpp"
#include "server_request.hpp"

namespace hush::turn {

namespace attr = stun::attr;

namespace {
bool known_indication_attribute(std::uint16_t type) {
  return type == attr::xor_peer_address || type == attr::data || type == attr::dont_fragment ||
         !attr::comprehension_required(type);
}
}  // namespace

void Server::handle_channel_data(const Now& now, const FiveTuple& t, Bytes d, Outbox& out) {
  Allocation* found = by_client(t);
  if (found == nullptr) return counters_.drop(Drop::no_allocation);
  Allocation& a = *found;
  auto cd = stun::parse_channel_data(d);
  if (!cd) return counters_.drop(Drop::malformed);
  const ChannelBinding* ch = a.channels.by_number(cd->channel, now.mono);
  if (ch == nullptr) return counters_.drop(Drop::unbound_channel);
  if (!a.permissions.contains(ch->peer.ip, now.mono)) return counters_.drop(Drop::no_permission);
  if (ch->host_peer && !peer_allowed(ch->peer)) return counters_.drop(Drop::peer_denied);
  const RelaySocket* relay = a.relay_for(ch->peer.ip.family());
  if (relay == nullptr) return counters_.drop(Drop::no_permission);
  if (!within_cap(a.to_peer_budget, cd->payload.size(), now)) return counters_.drop(Drop::bandwidth);
  if (!out.send(Transmit{Transmit::Via::relay, relay->handle, ch->peer, cd->payload.data(),
                         static_cast<std::uint32_t>(cd->payload.size())}))
    return counters_.drop(Drop::outbox_full);
  ++counters_.to_peer_packets;
  counters_.to_peer_bytes += cd->payload.size();
}

void Server::handle_send(const Now& now, const FiveTuple& t, const stun::MessageView& m, Outbox& out) {
  Allocation* found = by_client(t);
  if (found == nullptr) return counters_.drop(Drop::no_allocation);
  Allocation& a = *found;
  if (a.tcp) return counters_.drop(Drop::malformed);  // RFC 6062: data goes over peer connections
  std::uint16_t unknown[1];
  if (m.unknown_required(known_indication_attribute, unknown, 1) != 0)
    return counters_.drop(Drop::unknown_indication);
  auto peer_attr = m.find(attr::xor_peer_address);
  auto data = m.find(attr::data);
  if (!peer_attr || !data) return counters_.drop(Drop::malformed);
  auto decoded = stun::decode_xor_address(*peer_attr, m.transaction_id_ptr());
  if (!decoded) return counters_.drop(Drop::malformed);
  const Endpoint peer = internal_peer(a, *decoded);
  const Permission* p = a.permissions.find(peer.ip, now.mono);
  if (p == nullptr) return counters_.drop(Drop::no_permission);
  // A permission covers every port of its address, but port 0 is no destination.
  if (peer.port == 0 || (p->host_peer && !peer_allowed(peer))) return counters_.drop(Drop::peer_denied);
  const RelaySocket* relay = a.relay_for(peer.ip.family());
  if (relay == nullptr) return counters_.drop(Drop::no_permission);
  if (!within_cap(a.to_peer_budget, data->size(), now)) return counters_.drop(Drop::bandwidth);
  if (!out.send(Transmit{Transmit::Via::relay, relay->handle, peer, data->data(),
                         static_cast<std::uint32_t>(data->size())}))
    return counters_.drop(Drop::outbox_full);
  ++counters_.to_peer_packets;
  counters_.to_peer_bytes += data->size();
}

void Server::on_peer_datagram(const Now& now, std::uint32_t handle, const Endpoint& from, std::byte* payload,
                              std::size_t size, Outbox& out) {
  Allocation* found = by_relay(handle);
  if (found == nullptr) return counters_.drop(Drop::no_allocation);
  Allocation& a = *found;
  if (!a.permissions.contains(from.ip, now.mono)) return counters_.drop(Drop::no_permission);
  if (size > 0xFFFF - 64) return counters_.drop(Drop::malformed);
  if (!within_cap(a.to_client_budget, size, now)) return counters_.drop(Drop::bandwidth);

  std::byte* start;
  std::size_t total;
  if (const ChannelBinding* ch = a.channels.by_peer(from, now.mono)) {
    // §12.5: over UDP the ChannelData needs no padding.
    start = payload - stun::kChannelHeaderSize;
    stun::write_channel_header(start, ch->number, static_cast<std::uint16_t>(size));
    total = size + stun::kChannelHeaderSize;
  } else {
    // §10.3: a Data indication with XOR-PEER-ADDRESS and DATA, header written in front.
    const Endpoint reported_from = reported_peer(a, from);
    const std::size_t addr_len = 4 + from.ip.size();
    const std::size_t header = stun::kHeaderSize + 4 + addr_len + 4;
    const std::size_t pad = (4 - size % 4) % 4;
    start = payload - header;
    std::byte tid[stun::kTransactionIdSize];
    next_indication_id(tid);
    store_u16(start, stun::message_type(stun::Method::data, stun::Class::indication));
    store_u16(start + 2, static_cast<std::uint16_t>(header - stun::kHeaderSize + size + pad));
    store_u32(start + 4, stun::kMagicCookie);
    std::memcpy(start + 8, tid, sizeof tid);
    std::byte* p = start + stun::kHeaderSize;
    store_u16(p, attr::xor_peer_address);
    store_u16(p + 2, static_cast<std::uint16_t>(addr_len));
    stun::encode_xor_address(reported_from, tid, p + 4);
    p += 4 + addr_len;
    store_u16(p, attr::data);
    store_u16(p + 2, static_cast<std::uint16_t>(size));
    std::memset(payload + size, 0, pad);
    total = header + size + pad;
  }
  if (options_.smoothing.count() > 0) {
    if (!smooth(a, start, total, now)) return counters_.drop(Drop::smoothing_queue);
  } else if (!out.send(Transmit{Transmit::Via::listener, a.client.listener, a.client.client, start,
                         static_cast<std::uint32_t>(total)}))
    return counters_.drop(Drop::outbox_full);
  ++counters_.to_client_packets;
  counters_.to_client_bytes += size;
}

// §11.5. The datagram the error is about left this allocation's relayed socket for `peer`;
// the permission is checked on that destination's address (not on the ICMP message's sender,
// which may be any router on the way and is never passed on). The indication is small and
// follows a datagram the client sent, so it neither amplifies nor counts against the cap.
void Server::on_peer_icmp(const Now& now, std::uint32_t handle, const IcmpReport& e, Outbox& out) {
  const bool relayed_type = e.v6 ? (e.type >= 1 && e.type <= 3) : (e.type == 3 || e.type == 11);
  if (!relayed_type) return;
  Allocation* found = by_relay(handle);
  if (found == nullptr) return counters_.drop(Drop::no_allocation);
  Allocation& a = *found;
  if (!a.permissions.contains(e.peer.ip, now.mono)) return counters_.drop(Drop::no_permission);
  if (out.full()) return counters_.drop(Drop::outbox_full);
  const bool too_big = e.v6 ? e.type == 2 : e.type == 3 && e.code == 4;
  std::byte tid[stun::kTransactionIdSize];
  next_indication_id(tid);
  stun::MessageBuilder b(out.scratch(), stun::Method::data, stun::Class::indication, tid);
  b.add_xor_address(attr::xor_peer_address, reported_peer(a, e.peer));
  b.add_icmp(e.type, e.code, too_big ? e.info : 0);
  auto msg = b.finish();
  if (!msg) return;
  const Bytes m = out.commit(msg->size());
  if (options_.smoothing.count() > 0) {
    if (!smooth(a, m.data(), m.size(), now)) return counters_.drop(Drop::smoothing_queue);
  } else if (!out.send(Transmit{Transmit::Via::listener, a.client.listener, a.client.client, m.data(),
                                static_cast<std::uint32_t>(m.size())})) {
    return counters_.drop(Drop::outbox_full);
  }
  ++counters_.icmp_indications;
}

// --smoothing. A message waits for the allocation's next tick (created + k x tick, at most one
// tick away), then leaves with everything else queued by then, in arrival order.
bool Server::smooth(Allocation& a, const std::byte* message, std::size_t size, const Now& now) {
  if (!a.smooth) a.smooth = std::make_unique<SmoothQueue>();
  SmoothQueue& q = *a.smooth;
  if (q.queued.size() + size > options_.smoothing_queue || q.queued_sizes.size() >= kSmoothingMaxMessages)
    return false;
  q.queued.insert(q.queued.end(), message, message + size);
  q.queued_sizes.push_back(static_cast<std::uint32_t>(size));
  if (q.scheduled) return true;
  q.scheduled = true;
  releases_.emplace(tick_after(a, now.mono - TimePoint::duration{1}), a.id);  // a tick now counts
  return true;
}

TimePoint Server::tick_after(const Allocation& a, TimePoint t) const {
  const auto tick = std::chrono::duration_cast<TimePoint::duration>(options_.smoothing);
  if (t < a.created) return a.created;
  return a.created + ((t - a.created) / tick + 1) * tick;
}

// --cover: the allocation ticks from its creation to its end, whether media flows or not.
void Server::start_cover(Allocation& a) {
  a.smooth = std::make_unique<SmoothQueue>();
  a.smooth->cover = true;
  a.smooth->scheduled = true;
  releases_.emplace(tick_after(a, a.created), a.id);
}

namespace {
// A channel number the client has not bound, for cover ChannelData it will discard.
std::uint16_t unbound_channel(const ChannelTable& channels) {
  for (std::uint16_t n = 0x4FFF; n > 0x4000; --n) {
    bool used = false;
    for (const auto& c : channels.items()) used |= c.number == n;
    if (!used) return n;
  }
  return 0x4000;  // unreachable: at most --max-channels (4096) are bound
}
}  // namespace

bool Server::release_due(const Now& now, Outbox& out) {
  while (!releases_.empty() && releases_.top().first <= now.mono) {
    Allocation* found = by_id(releases_.top().second);
    if (found == nullptr || !found->smooth || !found->smooth->scheduled) {
      releases_.pop();  // the allocation is gone
      continue;
    }
    Allocation& a = *found;
    SmoothQueue& q = *a.smooth;
    if (q.cover) {
      if (out.room() < kCoverSlotsMax && !out.transmits().empty()) return true;
      const TimePoint when = releases_.top().first;
      releases_.pop();
      release_cover_tick(a, when, out);
      // The next tick, skipping any this worker was too busy to serve (no catch-up bursts).
      releases_.emplace(tick_after(a, std::max(when, now.mono)), a.id);
      continue;
    }
    if (out.room() < std::max<std::size_t>(q.queued_sizes.size(), 1) && !out.transmits().empty()) return true;
    releases_.pop();
    q.sending.swap(q.queued);  // the last tick's were flushed when their release returned
    q.queued.clear();
    const std::byte* p = q.sending.data();
    for (const std::uint32_t size : q.queued_sizes) {
      // Counted as relayed when queued; only a full outbox loses one here.
      if (!out.send(Transmit{Transmit::Via::listener, a.client.listener, a.client.client, p, size}))
        counters_.drop(Drop::outbox_full);
      p += size;
    }
    q.queued_sizes.clear();
    q.scheduled = false;
  }
  return false;
}

// --cover: what leaves at one tick is a fixed pattern, whatever flows: one record, and a second
// at every fourth tick, each the oldest message waiting or else cover. Sending everything
// queued, as plain smoothing does, would show two records at a tick whenever a sender's packet
// came just too late for the one before, which happens only while media flows: an observer
// could read talk spurts from those pairs. The fourth tick's second record gives a queue room
// to drain (1.25 messages a tick), so a late packet, or RTCP beside 20 ms audio at a 20 ms
// tick, costs a few ticks of delay, not a growing backlog.
void Server::release_cover_tick(Allocation& a, TimePoint when, Outbox& out) {
  SmoothQueue& q = *a.smooth;
  const auto tick = std::chrono::duration_cast<TimePoint::duration>(options_.smoothing);
  const std::size_t slots = (when - a.created) / tick % 4 == 3 ? 2 : 1;
  const std::size_t media = std::min(slots, q.queued_sizes.size());
  std::uint32_t sizes[kCoverSlotsMax];
  std::size_t bytes = 0;
  for (std::size_t i = 0; i < media; ++i) {
    sizes[i] = q.queued_sizes[i];
    bytes += sizes[i];
    q.cover_size = sizes[i];
  }
  // The last tick's records were flushed when their release returned.
  q.sending.assign(q.queued.begin(), q.queued.begin() + static_cast<std::ptrdiff_t>(bytes));
  q.queued.erase(q.queued.begin(), q.queued.begin() + static_cast<std::ptrdiff_t>(bytes));
  q.queued_sizes.erase(q.queued_sizes.begin(), q.queued_sizes.begin() + static_cast<std::ptrdiff_t>(media));
  // Cover for the other slots: inside the client's TLS or DTLS like any message (and padded
  // like one), on a channel the client discards.
  for (std::size_t i = media; i < slots; ++i) {
    const std::size_t at = q.sending.size();
    q.sending.resize(at + q.cover_size);
    stun::write_channel_header(q.sending.data() + at, unbound_channel(a.channels),
                               static_cast<std::uint16_t>(q.cover_size - stun::kChannelHeaderSize));
    sizes[i] = q.cover_size;
  }
  const std::byte* p = q.sending.data();
  for (std::size_t i = 0; i < slots; ++i) {
    // Media was counted as relayed when queued; only a full outbox loses a record here.
    if (out.send(Transmit{Transmit::Via::listener, a.client.listener, a.client.client, p, sizes[i]})) {
      if (i >= media) counters_.cover_bytes += sizes[i];
    } else {
      counters_.drop(Drop::outbox_full);
    }
    p += sizes[i];
  }
}

std::optional<TimePoint> Server::next_release() const {
  if (releases_.empty()) return std::nullopt;
  return releases_.top().first;
}

}  // namespace hush::turn
