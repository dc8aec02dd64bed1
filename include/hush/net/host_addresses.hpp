// Every address configured on this host's interfaces: peers the relay must never reach.
#pragma once

#include <vector>

#include "hush/base/address.hpp"

namespace hush::net {

std::vector<IpAddress> host_addresses();

}  // namespace hush::net
