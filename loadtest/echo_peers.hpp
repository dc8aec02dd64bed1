// The echo peers of hush-loadgen and hush-streamgen.
#pragma once

#include <net/if.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "hush/net/udp_socket.hpp"

#ifdef HUSH_HAVE_BPF
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "hush/fastpath/tcx.hpp"
#include "hush_echo.skel.h"
#endif

namespace hush::loadtest {

// The echo peers: what arrives goes straight back to its source. Either sockets served by one
// thread, or (--echo-in-kernel) an eBPF program on the generator's interface that sends each
// datagram back before it reaches a socket: the relay sees the same replies, and the generator
// spends no socket receive, wake-up or send on them.
class Peers {
 public:
  Peers(const IpAddress& ip, std::size_t count, std::uint16_t base) {
    for (std::size_t i = 0; i < count; ++i) {
      auto fd = net::open_udp(Endpoint{ip, static_cast<std::uint16_t>(base + i)},
                              net::UdpOptions{false, false, 8 << 20, 8 << 20});
      if (!fd) throw std::runtime_error("peer port " + std::to_string(base + i) + ": " + fd.error().message);
      fds_.push_back(*fd);
      endpoints_.push_back(net::local_endpoint(*fd));
    }
    thread_ = std::thread([this] { run(); });
  }
  // `clients`: --circulate, the clients' ports are echoed too (reflect_clients).
  Peers(const IpAddress& ip, std::size_t count, std::uint16_t base, const std::string& ifname, bool clients) {
#ifdef HUSH_HAVE_BPF
    const unsigned ifindex = ::if_nametoindex(ifname.c_str());
    if (ifindex == 0) throw std::runtime_error("--echo-in-kernel: no interface " + ifname);
    if (base + count > 0x10000) throw std::runtime_error("--echo-in-kernel: peer ports past 65535");
    echo_ = hush_echo__open();
    if (echo_ == nullptr) throw std::runtime_error("--echo-in-kernel: cannot open the eBPF program");
    std::memcpy(echo_->rodata->peer_ip, ip.data(), ip.size());
    echo_->rodata->peer_family = ip.is_v4() ? 4 : 6;
    echo_->rodata->port_base = base;
    echo_->rodata->port_count = static_cast<__u16>(count);
    echo_->rodata->echo_clients = clients ? 1 : 0;
    auto fail = [this](const std::string& why) {
      hush_echo__destroy(echo_);
      return std::runtime_error("--echo-in-kernel: " + why);
    };
    if (hush_echo__load(echo_) != 0) throw fail("cannot load the eBPF program (root?)");
    link_ = bpf_link_create(bpf_program__fd(echo_->progs.hush_echo), static_cast<int>(ifindex),
                            fastpath::kTcxIngress, nullptr);
    if (link_ < 0) throw fail("cannot attach to " + ifname + ": " + std::strerror(errno));
    for (std::size_t i = 0; i < count; ++i) endpoints_.push_back(Endpoint{ip, static_cast<std::uint16_t>(base + i)});
#else
    (void)ip, (void)count, (void)base, (void)clients;
    throw std::runtime_error("--echo-in-kernel " + ifname + ": built without libbpf");
#endif
  }
  ~Peers() {
#ifdef HUSH_HAVE_BPF
    if (link_ >= 0) ::close(link_);  // a tcx link detaches when its last descriptor closes
    if (echo_ != nullptr) hush_echo__destroy(echo_);
#endif
    if (!thread_.joinable()) return;
    stop_ = true;
    thread_.join();
    for (int fd : fds_) ::close(fd);
  }
  const Endpoint& endpoint(std::size_t i) const { return endpoints_[i % endpoints_.size()]; }
  std::uint64_t received() const {
    if (in_kernel()) return echo_count(0);
    return received_.load();
  }
  // --circulate: datagrams the kernel sent back from the clients' ports.
  std::uint64_t reflected() const { return in_kernel() ? echo_count(1) : 0; }
  // --circulate: send back (or stop sending back) what arrives for these client ports too.
  void reflect_clients(const std::vector<std::uint16_t>& ports, bool on) const {
#ifdef HUSH_HAVE_BPF
    const int map = bpf_map__fd(echo_->maps.hush_echo_clients);
    const std::uint8_t yes = 1;
    for (std::uint16_t p : ports) {
      if (on) bpf_map_update_elem(map, &p, &yes, BPF_ANY);
      else bpf_map_delete_elem(map, &p);
    }
#else
    (void)ports, (void)on;
#endif
  }
  bool in_kernel() const {
#ifdef HUSH_HAVE_BPF
    return echo_ != nullptr;
#else
    return false;
#endif
  }

 private:
  void run() {
    int ep = ::epoll_create1(0);
    for (int fd : fds_) {
      epoll_event ev{EPOLLIN, {.fd = fd}};
      ::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }
    constexpr int kBatch = 32;
    std::vector<std::byte> buf(kBatch * 2048);
    mmsghdr hdr[kBatch];
    iovec iov[kBatch];
    sockaddr_storage from[kBatch];
    epoll_event events[64];
    while (!stop_) {
      const int n = ::epoll_wait(ep, events, 64, 50);
      for (int e = 0; e < n; ++e) {
        const int fd = events[e].data.fd;
        for (;;) {
          for (int i = 0; i < kBatch; ++i) {
            iov[i] = {buf.data() + i * 2048, 2048};
            hdr[i] = mmsghdr{};
            hdr[i].msg_hdr.msg_name = &from[i];
            hdr[i].msg_hdr.msg_namelen = sizeof from[i];
            hdr[i].msg_hdr.msg_iov = &iov[i];
            hdr[i].msg_hdr.msg_iovlen = 1;
          }
          const int got = ::recvmmsg(fd, hdr, kBatch, MSG_DONTWAIT, nullptr);
          if (got <= 0) break;
          received_ += static_cast<std::uint64_t>(got);
          for (int i = 0; i < got; ++i) iov[i].iov_len = hdr[i].msg_len;
          int sent = 0;
          while (sent < got) {
            const int r = ::sendmmsg(fd, hdr + sent, static_cast<unsigned>(got - sent), MSG_DONTWAIT);
            sent += r > 0 ? r : 1;  // a full buffer loses the datagram, as UDP does
          }
          if (got < kBatch) break;
        }
      }
    }
    ::close(ep);
  }

  std::vector<int> fds_;
  std::vector<Endpoint> endpoints_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> received_{0};
#ifdef HUSH_HAVE_BPF
  // The program's count in `slot`, summed over the CPUs.
  std::uint64_t echo_count(std::uint32_t slot) const {
    std::vector<std::uint64_t> per_cpu(static_cast<std::size_t>(std::max(libbpf_num_possible_cpus(), 1)));
    if (bpf_map_lookup_elem(bpf_map__fd(echo_->maps.hush_echo_counts), &slot, per_cpu.data()) != 0) return 0;
    std::uint64_t sum = 0;
    for (auto v : per_cpu) sum += v;
    return sum;
  }
  hush_echo* echo_ = nullptr;
  int link_ = -1;
#else
  std::uint64_t echo_count(std::uint32_t) const { return 0; }
#endif
};


}  // namespace hush::loadtest
