// Peer address rules. Order: explicit deny, the host itself, explicit allow, default deny.
#include "hush/policy/peer_policy.hpp"

#include <algorithm>

namespace hush::policy {
namespace {

std::vector<Cidr> parse_all(std::initializer_list<const char*> list) {
  std::vector<Cidr> out;
  for (const char* s : list) out.push_back(*Cidr::parse(s));
  return out;
}

bool in(const std::vector<Cidr>& list, const IpAddress& a) {
  return std::any_of(list.begin(), list.end(), [&](const Cidr& c) { return c.contains(a); });
}

struct Special {
  Cidr mapped = *Cidr::parse("::ffff:0:0/96");
  Cidr compatible = *Cidr::parse("::/96");
  Cidr loopback6 = *Cidr::parse("::1/128");
  Cidr nat64 = *Cidr::parse("64:ff9b::/96");
  Cidr six_to_four = *Cidr::parse("2002::/16");
  Cidr teredo = *Cidr::parse("2001::/32");
};
const Special& special() {
  static const Special s;
  return s;
}

bool loopback_or_unspecified(const IpAddress& a) {
  if (a.is_v4()) return a.data()[0] == 127 || a.data()[0] == 0;
  return a.is_unspecified() || special().loopback6.contains(a);
}

}  // namespace

const std::vector<Cidr>& PeerPolicy::default_denied() {
  static const std::vector<Cidr> list = parse_all({
      // IPv4: this network, RFC 1918, CGNAT, loopback, link-local (cloud metadata), IETF
      // protocol assignments, documentation, 6to4 relay anycast, benchmarking, multicast,
      // reserved and broadcast.
      "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
      "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16",
      "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
      // IPv6: unspecified, loopback, IPv4-mapped and -compatible, local-use NAT64, discard,
      // documentation, ULA, link-local, site-local, multicast.
      "::/128", "::1/128", "::ffff:0:0/96", "::/96", "64:ff9b:1::/48", "100::/64",
      "2001:db8::/32", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
  });
  return list;
}

int embedded_ipv4(const IpAddress& a, IpAddress out[2]) {
  if (!a.is_v6()) return 0;
  const std::uint8_t* b = a.data();
  const Special& s = special();
  // ::/96 is the deprecated IPv4-compatible form, except :: and ::1 themselves.
  const bool compatible = s.compatible.contains(a) && !a.is_unspecified() && !s.loopback6.contains(a);
  if (s.mapped.contains(a) || compatible || s.nat64.contains(a)) {
    out[0] = IpAddress::v4_bytes(b + 12);
    return 1;
  }
  if (s.six_to_four.contains(a)) {
    out[0] = IpAddress::v4_bytes(b + 2);
    return 1;
  }
  if (s.teredo.contains(a)) {  // Teredo: server, then client XOR 0xFFFFFFFF
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

bool PeerPolicy::is_host_address(const IpAddress& a) const {
  if (loopback_or_unspecified(a)) return true;
  return std::find(config_.host_addresses.begin(), config_.host_addresses.end(), a) !=
         config_.host_addresses.end();
}

bool PeerPolicy::ip_denied_by_default(const IpAddress& a) const {
  return in(default_denied(), a) && !listed(config_.allow, a);
}

PeerDecision PeerPolicy::decide(const Endpoint& peer) const {
  const IpAddress& ip = peer.ip;
  IpAddress inner[2];
  const int n_inner = embedded_ipv4(ip, inner);

  if (listed(config_.deny, ip)) return PeerDecision::denied;
  for (int i = 0; i < n_inner; ++i)
    if (listed(config_.deny, inner[i]) || is_host_address(inner[i]) || ip_denied_by_default(inner[i]))
      return PeerDecision::denied;
  // IPv4-mapped and -compatible forms are never peers: relayed IPv6 sockets are v6-only.
  const Special& s = special();
  if (s.mapped.contains(ip) ||
      (s.compatible.contains(ip) && !ip.is_unspecified() && !s.loopback6.contains(ip)))
    return PeerDecision::denied;

  if (is_host_address(ip)) {
    const bool in_relay_range = peer.port >= config_.relay_port_min && peer.port <= config_.relay_port_max;
    // Another allocation's relayed address on this relay: a relay-only call between two of
    // its users. Nothing else in the relay range qualifies.
    if (in_relay_range)
      return live_ports_ && live_ports_->is_live(ip.family(), peer.port) ? PeerDecision::allowed
                                                                         : PeerDecision::denied;
    if (std::find(config_.service_ports.begin(), config_.service_ports.end(), peer.port) !=
        config_.service_ports.end())
      return PeerDecision::denied;
    if (peer.port == 0) return PeerDecision::denied;
    return listed(config_.allow, ip) ? PeerDecision::allowed : PeerDecision::denied;
  }
  if (ip_denied_by_default(ip)) return PeerDecision::denied;
  return PeerDecision::allowed;
}

}  // namespace hush::policy
