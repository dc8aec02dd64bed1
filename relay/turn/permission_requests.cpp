// RFC 8656 §9.2 (CreatePermission) and §11.2 (ChannelBind).
#include "hush/stun/channel_data.hpp"
#include "server_request.hpp"

namespace hush::turn {

namespace attr = stun::attr;
namespace error = stun::error;

// §9: a permission is for an IP address, whatever port XOR-PEER-ADDRESS carries (0 too). An
// address on this host (another user's relayed address) is permitted as an address; each
// datagram's port is decided on the data path (a live relayed port, nothing else).
void Server::handle_create_permission(const Request& r, Allocation& a, Outbox& out) {
  IpAddress peers[16];
  bool host_peer[16];
  std::size_t count = 0;
  for (const auto& at : r.msg.attributes()) {
    if (at.type != attr::xor_peer_address) continue;
    auto peer = stun::decode_xor_address(r.msg.value(at), r.msg.transaction_id_ptr());
    if (!peer) return reply_error(r, error::bad_request, &a, out);
    if (!a.has_family(peer->ip.family())) return reply_error(r, error::peer_address_family_mismatch, &a, out);
    const IpAddress ip = internal_peer(a, *peer).ip;
    const policy::AddressClass c = snapshot_->peers.classify(ip);
    if (c == policy::AddressClass::denied) return refuse_peer(r, ip, a, out);
    if (count == std::size(peers)) return reply_error(r, error::insufficient_capacity, &a, out);
    host_peer[count] = c != policy::AddressClass::peer;
    peers[count++] = ip;
  }
  if (count == 0) return reply_error(r, error::bad_request, &a, out);

  // All or nothing (§9.2): check room for every new address before installing any.
  a.permissions.purge(r.now.mono);
  std::size_t fresh = 0;
  for (std::size_t i = 0; i < count; ++i) fresh += !a.permissions.would_fit(peers[i], 0, 0);
  if (a.permissions.size() + fresh > options_.max_permissions)
    return reply_error(r, error::insufficient_capacity, &a, out);

  const TimePoint expires = r.now.mono + options_.permission_lifetime;
  for (std::size_t i = 0; i < count; ++i)
    a.permissions.install(peers[i], expires, host_peer[i], options_.max_permissions);
  schedule(a);
  sync_kernel(a, r.now.mono);
  reply_authenticated(r, &a, out, [](stun::MessageBuilder&) {});
}

void Server::handle_channel_bind(const Request& r, Allocation& a, Outbox& out) {
  if (a.tcp) return reply_error(r, error::bad_request, &a, out);  // RFC 6062: no channels on TCP allocations
  auto number_attr = r.msg.find(attr::channel_number);
  auto peer_attr = r.msg.find(attr::xor_peer_address);
  if (!number_attr || number_attr->size() != 4 || !peer_attr) return reply_error(r, error::bad_request, &a, out);
  const std::uint16_t number = load_u16(number_attr->data());
  if (!stun::valid_channel(number)) return reply_error(r, error::bad_request, &a, out);
  auto decoded = stun::decode_xor_address(*peer_attr, r.msg.transaction_id_ptr());
  if (!decoded) return reply_error(r, error::bad_request, &a, out);
  if (!a.has_family(decoded->ip.family())) return reply_error(r, error::peer_address_family_mismatch, &a, out);
  const Endpoint peer = internal_peer(a, *decoded);
  if (!peer_allowed(peer)) return refuse_peer(r, peer.ip, a, out);

  const TimePoint now = r.now.mono;
  switch (a.channels.check(number, peer, now, options_.max_channels)) {
    case BindResult::channel_in_use:
    case BindResult::peer_in_use:
      return reply_error(r, error::bad_request, &a, out);
    case BindResult::full:
      return reply_error(r, error::insufficient_capacity, &a, out);
    default:
      break;
  }
  a.permissions.purge(now);
  if (!a.permissions.would_fit(peer.ip, 1, options_.max_permissions))
    return reply_error(r, error::insufficient_capacity, &a, out);

  const bool host_peer = snapshot_->peers.needs_port_check(peer.ip);
  a.channels.bind(number, peer, now + options_.channel_lifetime, host_peer, now, options_.max_channels);
  // §11.2: a ChannelBind also installs or refreshes the permission for the peer's address.
  a.permissions.install(peer.ip, now + options_.permission_lifetime, host_peer, options_.max_permissions);
  schedule(a);
  sync_kernel(a, now);
  reply_authenticated(r, &a, out, [](stun::MessageBuilder&) {});
}

}  // namespace hush::turn
