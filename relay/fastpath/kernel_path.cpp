// --kernel-fastpath: loading, attaching and the map mirror. See kernel_path.hpp.
#include "hush/fastpath/kernel_path.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <set>

#include "hush/fastpath/flows.h"

#ifdef HUSH_HAVE_BPF
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "hush/fastpath/tcx.hpp"
#include "hush_fastpath.skel.h"
#endif

namespace hush::fastpath {

namespace {

#ifdef HUSH_HAVE_BPF
void put(const Endpoint& e, __u8* addr, __u16* port) {
  std::memcpy(addr, e.ip.data(), e.ip.size());
  *port = htons(e.port);
}

// The maps' family numbers (flows.h): 4 or 6.
__u8 version(const Endpoint& e) { return e.ip.is_v4() ? 4 : 6; }

hush_client_key client_key(const turn::KernelFlow& f) {
  hush_client_key k{};
  put(f.client, k.client, &k.client_port);
  put(f.server, k.server, &k.server_port);
  k.channel = htons(f.channel);
  k.family = version(f.client);
  return k;
}

hush_peer_key peer_key(const turn::KernelFlow& f) {
  hush_peer_key k{};
  put(f.peer, k.peer, &k.peer_port);
  put(f.relay, k.relay, &k.relay_port);
  k.family = version(f.peer);
  return k;
}

// The kernel's route to `dst` (RTM_GETROUTE): 0 when it is an address of this host, else the
// interface it leaves by; nullopt when there is none.
std::optional<std::uint32_t> route_to(const IpAddress& dst) {
  const int fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return std::nullopt;
  struct {
    nlmsghdr nh;
    rtmsg rt;
    char attrs[32];
  } req{};
  req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(rtmsg));
  req.nh.nlmsg_type = RTM_GETROUTE;
  req.nh.nlmsg_flags = NLM_F_REQUEST;
  req.rt.rtm_family = dst.is_v4() ? AF_INET : AF_INET6;
  req.rt.rtm_dst_len = dst.is_v4() ? 32 : 128;
  auto* a = reinterpret_cast<rtattr*>(reinterpret_cast<char*>(&req) + NLMSG_ALIGN(req.nh.nlmsg_len));
  a->rta_type = RTA_DST;
  a->rta_len = static_cast<unsigned short>(RTA_LENGTH(dst.size()));
  std::memcpy(RTA_DATA(a), dst.data(), dst.size());
  req.nh.nlmsg_len = NLMSG_ALIGN(req.nh.nlmsg_len) + RTA_ALIGN(a->rta_len);
  std::optional<std::uint32_t> out;
  char buf[4096];
  if (::send(fd, &req, req.nh.nlmsg_len, 0) >= 0) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    auto* nh = reinterpret_cast<nlmsghdr*>(buf);
    if (n > 0 && NLMSG_OK(nh, static_cast<unsigned>(n)) && nh->nlmsg_type == RTM_NEWROUTE) {
      auto* rt = static_cast<rtmsg*>(NLMSG_DATA(nh));
      int len = static_cast<int>(RTM_PAYLOAD(nh));
      std::uint32_t oif = 0;
      for (rtattr* at = RTM_RTA(rt); RTA_OK(at, len); at = RTA_NEXT(at, len))
        if (at->rta_type == RTA_OIF) std::memcpy(&oif, RTA_DATA(at), sizeof oif);
      if (rt->rtm_type == RTN_LOCAL) out = 0;
      else if (rt->rtm_type == RTN_UNICAST && oif != 0) out = oif;
    }
  }
  ::close(fd);
  return out;
}

// ARPHRD_ETHER (1) or ARPHRD_LOOPBACK (772), from sysfs.
bool has_ethernet_header(const std::string& name) {
  std::ifstream in("/sys/class/net/" + name + "/type");
  int type = 0;
  in >> type;
  return type == 1 || type == 772;
}

constexpr std::uint8_t kLoopback6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

// The interfaces holding `a` (loopback for loopback addresses).
Result<std::set<std::string>, std::string> interfaces_of(const std::vector<IpAddress>& addresses) {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return err(std::string("getifaddrs: ") + std::strerror(errno));
  std::set<std::string> names;
  std::string missing;
  for (const auto& a : addresses) {
    bool found = false;
    for (ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
      if (i->ifa_addr == nullptr) continue;
      IpAddress ip;
      if (i->ifa_addr->sa_family == AF_INET && a.is_v4()) {
        ip = IpAddress::v4_bytes(reinterpret_cast<const std::uint8_t*>(
            &reinterpret_cast<const sockaddr_in*>(i->ifa_addr)->sin_addr));
      } else if (i->ifa_addr->sa_family == AF_INET6 && !a.is_v4()) {
        ip = IpAddress::v6_bytes(reinterpret_cast<const std::uint8_t*>(
            &reinterpret_cast<const sockaddr_in6*>(i->ifa_addr)->sin6_addr));
      } else {
        continue;
      }
      if (ip == a) {
        names.insert(i->ifa_name);
        found = true;
      }
    }
    const bool loopback = a.is_v4() ? a.data()[0] == 127 : a == IpAddress::v6_bytes(kLoopback6);
    if (!found && loopback) {
      names.insert("lo");
      found = true;
    }
    if (!found) missing = a.to_string();
  }
  freeifaddrs(list);
  if (!missing.empty()) return err("address " + missing + " is on no interface");
  return names;
}
#endif

}  // namespace

#ifdef HUSH_HAVE_BPF

Result<std::unique_ptr<BpfKernelPath>, std::string> BpfKernelPath::open(const Options& options,
                                                                        const std::vector<IpAddress>& addresses) {
  auto names = interfaces_of(addresses);
  if (!names) return err(names.error());
  std::unique_ptr<BpfKernelPath> k(new BpfKernelPath);
  k->options_ = options;
  libbpf_set_print(nullptr);  // the reason goes into our one error line, not to stderr
  k->skel_ = hush_fastpath__open();
  if (k->skel_ == nullptr) return err(std::string("cannot open the eBPF object: ") + std::strerror(errno));
  const auto entries = static_cast<__u32>(options.entries);
  bpf_map__set_max_entries(k->skel_->maps.hush_clients, entries);
  bpf_map__set_max_entries(k->skel_->maps.hush_peers, entries);
  k->skel_->rodata->loopback_ifindex = if_nametoindex("lo");
  if (int e = hush_fastpath__load(k->skel_); e != 0)
    return err(std::string("cannot load the eBPF program (needs root, or CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON, and a kernel "
                           "with BTF): ") + std::strerror(-e));
  for (const auto& name : *names) {
    const unsigned index = if_nametoindex(name.c_str());
    if (index == 0) return err("interface " + name + " disappeared");
    // Ethernet-like interfaces (and loopback) only: on one without a link header (tun,
    // WireGuard) the program could not send a packet on, so that traffic stays in user space.
    if (!has_ethernet_header(name)) {
      k->skipped_.push_back(name);
      continue;
    }
    bpf_program* prog = k->skel_->progs.hush_ingress;
    const int fd = bpf_link_create(bpf_program__fd(prog), static_cast<int>(index), kTcxIngress, nullptr);
    if (fd < 0)
      return err("cannot attach to " + name + " (needs Linux 6.6 or later for tcx): " + std::strerror(errno));
    // Kept as a descriptor: closing it (or the process ending) detaches the program.
    k->links_.push_back(fd);
    k->interface_names_.push_back(name);
  }
  if (k->links_.empty()) return err(std::string("no interface with an Ethernet header holds the relay's addresses"));
  return k;
}

BpfKernelPath::~BpfKernelPath() {
  for (const int fd : links_) ::close(fd);
  if (skel_ != nullptr) hush_fastpath__destroy(skel_);
}

bool BpfKernelPath::install(const turn::KernelFlow& f) {
  // Each side is one family: the client's with its listener, the peer's with the relayed
  // address. The two sides may differ (the program then changes the IP version).
  if (f.server.ip.family() != f.client.ip.family() || f.relay.ip.family() != f.peer.ip.family()) return false;
  const auto to_peer = route_to(f.peer.ip), to_client = route_to(f.client.ip);
  if (!to_peer || !to_client) return false;  // unroutable: user space answers with what it can
  hush_client_key ck = client_key(f);
  hush_client_flow cv{};
  put(f.relay, cv.relay, &cv.relay_port);
  put(f.peer, cv.peer, &cv.peer_port);
  cv.ifindex = *to_peer;
  cv.family = version(f.peer);
  hush_peer_key pk = peer_key(f);
  hush_peer_flow pv{};
  put(f.client, pv.client, &pv.client_port);
  put(f.server, pv.server, &pv.server_port);
  pv.channel = htons(f.channel);
  pv.pad_mode = options_.pad == Options::Pad::block   ? HUSH_PAD_BLOCK
                : options_.pad == Options::Pad::fixed ? HUSH_PAD_FIXED
                                                      : HUSH_PAD_NONE;
  pv.pad_size = options_.pad_size;
  pv.ifindex = *to_client;
  pv.family = version(f.client);
  const int clients = bpf_map__fd(skel_->maps.hush_clients), peers = bpf_map__fd(skel_->maps.hush_peers);
  std::lock_guard lock(mutex_);
  // Peer side first: a client's packet is never forwarded towards a peer whose answers the
  // kernel would not bring back.
  if (bpf_map_update_elem(peers, &pk, &pv, BPF_ANY) != 0) {
    ++retired_.install_failures;
    return false;
  }
  if (bpf_map_update_elem(clients, &ck, &cv, BPF_ANY) != 0) {
    bpf_map_delete_elem(peers, &pk);
    ++retired_.install_failures;
    return false;
  }
  by_peer_.emplace(f.peer, f);
  ++flows_;
  return true;
}

void BpfKernelPath::erase_locked(const turn::KernelFlow& f) {
  auto range = by_peer_.equal_range(f.peer);
  auto it = range.first;
  while (it != range.second && !(it->second == f)) ++it;
  if (it == range.second) return;  // already gone (relay_closed)
  by_peer_.erase(it);
  --flows_;
  const hush_client_key ck = client_key(f);
  const hush_peer_key pk = peer_key(f);
  hush_client_flow cv{};
  hush_peer_flow pv{};
  const int clients = bpf_map__fd(skel_->maps.hush_clients), peers = bpf_map__fd(skel_->maps.hush_peers);
  // Client side first; each entry's last counts go with it (lookup-and-delete on hash maps
  // is in every kernel with tcx).
  if (bpf_map_lookup_and_delete_elem(clients, &ck, &cv) == 0) {
    retired_.to_peer_packets += cv.packets;
    retired_.to_peer_bytes += cv.bytes;
  }
  if (bpf_map_lookup_and_delete_elem(peers, &pk, &pv) == 0) {
    retired_.to_client_packets += pv.packets;
    retired_.to_client_bytes += pv.bytes;
  }
}

void BpfKernelPath::remove(const turn::KernelFlow& f) {
  std::lock_guard lock(mutex_);
  erase_locked(f);
}

void BpfKernelPath::relay_closed(const Endpoint& relay) {
  std::lock_guard lock(mutex_);
  for (;;) {
    auto it = by_peer_.find(relay);
    if (it == by_peer_.end()) break;
    const turn::KernelFlow f = it->second;
    erase_locked(f);
  }
}

Totals BpfKernelPath::totals() {
  std::lock_guard lock(mutex_);
  Totals t = retired_;
  t.flows = flows_;
  const int clients = bpf_map__fd(skel_->maps.hush_clients), peers = bpf_map__fd(skel_->maps.hush_peers);
  for (const auto& [peer, f] : by_peer_) {
    const hush_client_key ck = client_key(f);
    const hush_peer_key pk = peer_key(f);
    hush_client_flow cv{};
    hush_peer_flow pv{};
    if (bpf_map_lookup_elem(clients, &ck, &cv) == 0) {
      t.to_peer_packets += cv.packets;
      t.to_peer_bytes += cv.bytes;
    }
    if (bpf_map_lookup_elem(peers, &pk, &pv) == 0) {
      t.to_client_packets += pv.packets;
      t.to_client_bytes += pv.bytes;
    }
  }
  return t;
}

FlowCounters BpfKernelPath::counters(const turn::KernelFlow& f) {
  FlowCounters c;
  const hush_client_key ck = client_key(f);
  const hush_peer_key pk = peer_key(f);
  hush_client_flow cv{};
  hush_peer_flow pv{};
  if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.hush_clients), &ck, &cv) == 0) {
    c.to_peer_packets = cv.packets;
    c.to_peer_bytes = cv.bytes;
  }
  if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.hush_peers), &pk, &pv) == 0) {
    c.to_client_packets = pv.packets;
    c.to_client_bytes = pv.bytes;
  }
  return c;
}

#else  // built without libbpf, bpftool or clang

Result<std::unique_ptr<BpfKernelPath>, std::string> BpfKernelPath::open(const Options&, const std::vector<IpAddress>&) {
  return err(std::string("this build has no eBPF support (libbpf-dev, bpftool and clang were missing)"));
}
BpfKernelPath::~BpfKernelPath() = default;
bool BpfKernelPath::install(const turn::KernelFlow&) { return false; }
void BpfKernelPath::remove(const turn::KernelFlow&) {}
void BpfKernelPath::relay_closed(const Endpoint&) {}
Totals BpfKernelPath::totals() { return {}; }
FlowCounters BpfKernelPath::counters(const turn::KernelFlow&) { return {}; }
void BpfKernelPath::erase_locked(const turn::KernelFlow&) {}

#endif

}  // namespace hush::fastpath
