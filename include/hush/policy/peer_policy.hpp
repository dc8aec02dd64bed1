// Which peers a client may relay to (RFC 8656 §21.3: never an open proxy into private
// networks or the relay host itself; the class of coturn's CVE-2020-26262).
#pragma once

#include <cstdint>
#include <vector>

#include "hush/base/address.hpp"
#include "hush/policy/cidr.hpp"
#include "hush/policy/relay_port_registry.hpp"

namespace hush::policy {

struct PeerPolicyConfig {
  std::vector<Cidr> allow;              // --allow-peer: exceptions to the default deny ranges
  std::vector<Cidr> deny;               // --deny-peer: always denied
  std::vector<IpAddress> host_addresses;  // every address of this host, relay and external IPs
  std::vector<std::uint16_t> service_ports;  // listening, metrics and API ports: never peers
  std::uint16_t relay_port_min = 49152;
  std::uint16_t relay_port_max = 65535;
};

enum class PeerDecision { allowed, denied };

class PeerPolicy {
 public:
  PeerPolicy(PeerPolicyConfig config, const RelayPortRegistry* live_ports);

  PeerDecision decide(const Endpoint& peer) const;
  bool allows(const Endpoint& peer) const { return decide(peer) == PeerDecision::allowed; }
  // Peers on this host need a port check on every send, since permissions cover all ports.
  bool is_host_address(const IpAddress& a) const;

  static const std::vector<Cidr>& default_denied();

 private:
  bool ip_denied_by_default(const IpAddress& a) const;
  bool listed(const std::vector<Cidr>& list, const IpAddress& a) const;

  PeerPolicyConfig config_;
  const RelayPortRegistry* live_ports_;
};

// IPv4 addresses carried inside an IPv6 address (IPv4-mapped and -compatible, 6to4, NAT64,
// Teredo server and client). Returns how many it wrote (at most 2).
int embedded_ipv4(const IpAddress& v6, IpAddress out[2]);

}  // namespace hush::policy
