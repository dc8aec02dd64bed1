// Which peers a client may relay to (RFC 8656 §21.3: never an open proxy into private
// networks or the relay host itself; the class of coturn's CVE-2020-26262 and
// CVE-2026-27624).
#pragma once

#include <cstdint>
#include <vector>

#include "hush/base/address.hpp"
#include "hush/policy/cidr.hpp"
#include "hush/policy/relay_port_registry.hpp"

namespace hush::policy {

struct PeerPolicyConfig {
  std::vector<Cidr> allow;              // --allow-peer: exceptions to the default deny table
  std::vector<Cidr> deny;               // --deny-peer: always denied
  // The exact addresses relayed sockets are bound to (--relay-ip) and advertised as
  // (--external-ip): with a live relayed port, another user of this relay.
  std::vector<IpAddress> relayed_addresses;
  // Every other address of this host (interfaces, listening and metrics addresses); loopback
  // (127.0.0.0/8, ::1) always counts as this host.
  std::vector<IpAddress> host_addresses;
  std::vector<std::uint16_t> service_ports;  // listening, metrics and API ports: never peers
  std::uint16_t relay_port_min = 49152;
  std::uint16_t relay_port_max = 65535;
  // --relay-to-relay-only: the only peers are relayed addresses, this relay's and those of
  // sibling relays (--peer-relay), so that neither caller of a call through hush ever
  // exchanges a packet with the other's own address, whatever their ICE agents try.
  bool relayed_only = false;
  std::vector<Cidr> peer_relays;
};

enum class PeerDecision { allowed, denied };

// What an address alone says (CreatePermission carries no meaningful port, RFC 8656 §9):
// denied; a peer on any port; or a peer on this host, whose port every datagram checks
// (relayed: another allocation's relayed address; host: --allow-peer opened this host).
enum class AddressClass { denied, peer, relayed, host };

class PeerPolicy {
 public:
  PeerPolicy(PeerPolicyConfig config, const RelayPortRegistry* live_ports);

  AddressClass classify(const IpAddress& a) const;
  PeerDecision decide(const Endpoint& peer) const;
  bool allows(const Endpoint& peer) const { return decide(peer) == PeerDecision::allowed; }
  // An address that no ICE agent offers as a candidate and no caller can be: the forms that
  // are never a peer, loopback, multicast, and this host's addresses other than its relayed
  // ones (RFC 8445 §5.1.1.1 keeps loopback and IPv4-mapped and -compatible addresses out of
  // candidates). Asking for one is a probe, which --block-after counts; private, link-local
  // and the rest of the deny table are what ICE agents ask for as a matter of course.
  bool is_probe(const IpAddress& a) const;
  // Peers on this host need a port check on every send, since permissions cover all ports.
  bool needs_port_check(const IpAddress& a) const {
    const AddressClass c = classify(a);
    return c == AddressClass::relayed || c == AddressClass::host;
  }

 private:
  bool listed(const std::vector<Cidr>& list, const IpAddress& a) const;
  bool denied_by_default(const IpAddress& a) const;  // the special-purpose table, less --allow-peer
  bool relayed_address(const IpAddress& a) const;
  bool host_address(const IpAddress& a) const;

  PeerPolicyConfig config_;
  const RelayPortRegistry* live_ports_;
};

// Address forms that are never a peer, whatever --allow-peer says: 0.0.0.0/8, ::, and the
// IPv6 forms that only carry an IPv4 address (IPv4-mapped, -compatible and SIIT).
bool never_a_peer(const IpAddress& a);

// IPv4 addresses carried inside an IPv6 address (IPv4-mapped, -compatible and SIIT, 6to4,
// NAT64, Teredo server and client). Returns how many it wrote (at most 2).
int embedded_ipv4(const IpAddress& v6, IpAddress out[2]);

}  // namespace hush::policy
