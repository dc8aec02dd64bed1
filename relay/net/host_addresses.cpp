#include "hush/net/host_addresses.hpp"

#include <ifaddrs.h>
#include <netinet/in.h>

namespace hush::net {

std::vector<IpAddress> host_addresses() {
  std::vector<IpAddress> out;
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return out;
  for (ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr) continue;
    if (i->ifa_addr->sa_family == AF_INET) {
      const auto* s = reinterpret_cast<const sockaddr_in*>(i->ifa_addr);
      out.push_back(IpAddress::v4_bytes(reinterpret_cast<const std::uint8_t*>(&s->sin_addr)));
    } else if (i->ifa_addr->sa_family == AF_INET6) {
      const auto* s = reinterpret_cast<const sockaddr_in6*>(i->ifa_addr);
      out.push_back(IpAddress::v6_bytes(reinterpret_cast<const std::uint8_t*>(&s->sin6_addr)));
    }
  }
  ::freeifaddrs(list);
  return out;
}

}  // namespace hush::net
