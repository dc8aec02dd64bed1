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

std::vector<Endpoint> expand_wildcards(const std::vector<Endpoint>& listen) {
  std::vector<Endpoint> out;
  const auto host = host_addresses();
  auto add = [&](const Endpoint& ep) {
    for (const auto& e : out)
      if (e == ep) return;
    out.push_back(ep);
  };
  for (const auto& ep : listen) {
    if (!ep.ip.is_unspecified()) {
      add(ep);
      continue;
    }
    for (const auto& ip : host) {
      if (ip.family() != ep.ip.family()) continue;
      if (ip.is_v6() && ip.data()[0] == 0xfe && (ip.data()[1] & 0xc0) == 0x80) continue;  // fe80::/10
      add(Endpoint{ip, ep.port});
    }
  }
  return out;
}

}  // namespace hush::net
