// Every address configured on this host's interfaces: peers the relay must never reach.
#pragma once

#include <vector>

#include "hush/base/address.hpp"

namespace hush::net {

std::vector<IpAddress> host_addresses();

// Wildcard listen addresses (0.0.0.0, ::) replaced by one endpoint per address of that family
// on this host (IPv6 link-local left out: it needs a scope). A socket per address answers from
// the address the client used, on multi-homed hosts too, as coturn does; addresses added to
// the host after start-up are not served.
std::vector<Endpoint> expand_wildcards(const std::vector<Endpoint>& listen);

}  // namespace hush::net
