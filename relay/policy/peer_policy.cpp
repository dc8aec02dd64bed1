// Peer address rules. Order: forms that are never peers, explicit deny, the IPv4 address an
// IPv6 one carries, the relay's own relayed addresses, the rest of this host, explicit allow,
// the default table (special_purpose.cpp).
#include "hush/policy/peer_policy.hpp"

#include <algorithm>

#include "hush/policy/special_purpose.hpp"

namespace hush::policy {
namespace {

bool in(const std::vector<Cidr>& list, const IpAddress& a) {
  return std::any_of(list.begin(), list.end(), [&](const Cidr& c) { return c.contains(a); });
}

struct Forms {
  Cidr mapped = *Cidr::parse("::ffff:0:0/96");
  Cidr siit = *Cidr::parse("::ffff:0:0:0/96");
  Cidr compatible = *Cidr::parse("::/96");
  Cidr loopback6 = *Cidr::parse("::1/128");
  Cidr nat64 = *Cidr::parse("64:ff9b::/96");
  Cidr six_to_four = *Cidr::parse("2002::/16");
  Cidr teredo = *Cidr::parse("2001::/32");
};
const Forms& forms() {
  static const Forms f;
  return f;
}

bool loopback(const IpAddress& a) {
  return a.is_v4() ? a.data()[0] == 127 : forms().loopback6.contains(a);
}

bool contains(const std::vector<IpAddress>& list, const IpAddress& a) {
  return std::find(list.begin(), list.end(), a) != list.end();
}

}  // namespace

bool never_a_peer(const IpAddress& a) {
  if (a.is_v4()) return a.data()[0] == 0;
  const Forms& f = forms();
  if (a.is_unspecified() || f.mapped.contains(a) || f.siit.contains(a)) return true;
  return f.compatible.contains(a) && !f.loopback6.contains(a);
}

int embedded_ipv4(const IpAddress& a, IpAddress out[2]) {
  if (!a.is_v6()) return 0;
  const std::uint8_t* b = a.data();
  const Forms& f = forms();
  // ::/96 is the deprecated IPv4-compatible form, except :: and ::1 themselves.
  const bool compatible = f.compatible.contains(a) && !a.is_unspecified() && !f.loopback6.contains(a);
  if (f.mapped.contains(a) || f.siit.contains(a) || compatible || f.nat64.contains(a)) {
    out[0] = IpAddress::v4_bytes(b + 12);
    return 1;
  }
  if (f.six_to_four.contains(a)) {
    out[0] = IpAddress::v4_bytes(b + 2);
    return 1;
  }
  if (f.teredo.contains(a)) {  // Teredo: server, then client XOR 0xFFFFFFFF
    out[0] = IpAddress::v4_bytes(b + 4);
    std::uint8_t client[4] = {static_cast<std::uint8_t>(~b[12]), static_cast<std::uint8_t>(~b[13]),
                              static_cast<std::uint8_t>(~b[14]), static_cast<std::uint8_t>(~b[15])};
    out[1] = IpAddress::v4_bytes(client);
    return 2;
  }
  return 0;
}

PeerPolicy::PeerPolicy(PeerPolicyConfig config, const RelayPortRegistry* live_ports)
    : config_(std::move(config)), live_ports_(live_ports) {}

bool PeerPolicy::listed(const std::vector<Cidr>& list, const IpAddress& a) const { return in(list, a); }

bool PeerPolicy::relayed_address(const IpAddress& a) const { return contains(config_.relayed_addresses, a); }

bool PeerPolicy::host_address(const IpAddress& a) const {
  return loopback(a) || relayed_address(a) || contains(config_.host_addresses, a);
}

bool PeerPolicy::is_probe(const IpAddress& a) const {
  if (never_a_peer(a) || (host_address(a) && !relayed_address(a))) return true;
  const std::uint8_t* b = a.data();
  return a.is_v4() ? b[0] >= 224 && b[0] <= 239 : b[0] == 0xff;  // multicast
}

bool PeerPolicy::denied_by_default(const IpAddress& a) const {
  const SpecialBlock* b = most_specific_block(a);
  return b != nullptr && b->verdict == Verdict::deny && !listed(config_.allow, a);
}

AddressClass PeerPolicy::classify(const IpAddress& ip) const {
  if (never_a_peer(ip) || listed(config_.deny, ip)) return AddressClass::denied;
  IpAddress inner[2];
  const int n_inner = embedded_ipv4(ip, inner);
  for (int i = 0; i < n_inner; ++i)
    if (never_a_peer(inner[i]) || listed(config_.deny, inner[i]) || host_address(inner[i]) ||
        denied_by_default(inner[i]))
      return AddressClass::denied;
  // Exactly the relayed addresses, whatever range they are in (a relay on 10.0.0.5 still
  // carries calls between its users); their ports are decided per datagram.
  if (relayed_address(ip)) return AddressClass::relayed;
  if (config_.relayed_only) {
    // A sibling relay's relayed address may be private (a cluster's network) but never this
    // host's; --allow-peer does not widen this mode.
    return listed(config_.peer_relays, ip) && !host_address(ip) ? AddressClass::peer : AddressClass::denied;
  }
  if (host_address(ip)) return listed(config_.allow, ip) ? AddressClass::host : AddressClass::denied;
  if (denied_by_default(ip)) return AddressClass::denied;
  return AddressClass::peer;
}

PeerDecision PeerPolicy::decide(const Endpoint& peer) const {
  if (peer.port == 0) return PeerDecision::denied;
  const AddressClass c = classify(peer.ip);
  if (c == AddressClass::denied) return PeerDecision::denied;
  if (c == AddressClass::peer) return PeerDecision::allowed;
  // This host. In the relay range only another allocation's relayed socket is a peer, and
  // only on the relayed addresses: on any other address of the host that port number is
  // whatever else listens there.
  if (peer.port >= config_.relay_port_min && peer.port <= config_.relay_port_max)
    return c == AddressClass::relayed && live_ports_ && live_ports_->is_live(peer.ip.family(), peer.port)
               ? PeerDecision::allowed
               : PeerDecision::denied;
  if (std::find(config_.service_ports.begin(), config_.service_ports.end(), peer.port) !=
      config_.service_ports.end())
    return PeerDecision::denied;
  // Outside the relay range a host address is a peer only where --allow-peer names it.
  return listed(config_.allow, peer.ip) ? PeerDecision::allowed : PeerDecision::denied;
}

}  // namespace hush::policy
