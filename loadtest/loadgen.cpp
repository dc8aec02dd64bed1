// hush-loadgen: a TURN client swarm for any RFC 8656 server over UDP. N allocations (REST
// shared-secret credentials), each with a channel (or a permission, for Send indications) to
// echo peers that this tool runs; every packet carries its send time, so the round trip
// client -> relay -> peer -> relay -> client is measured. recvmmsg/sendmmsg throughout.
//
//   hush-loadgen --server 127.0.0.1:3478 --secret S --allocations 100 --rate 50 --size 100 --duration 10
//   hush-loadgen --ceiling --server 127.0.0.1:3479 ...   (the bare forwarder: no TURN set-up)
//   hush-loadgen --echo-in-kernel veth0 ...   (the echo peers as an eBPF program: echo.bpf.c)
#include <net/if.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "echo_peers.hpp"
#include "histogram.hpp"
#include "measure.hpp"
#include "probe.hpp"
#include "hush/auth/rest_credential.hpp"
#include "hush/net/udp_socket.hpp"
#include "hush/stun/builder.hpp"
#include "hush/stun/channel_data.hpp"
#include "hush/stun/integrity.hpp"
#include "hush/stun/message.hpp"

using namespace hush;
using namespace hush::loadtest;

namespace {

constexpr int kBatch = 32;

struct Options {
  std::string server = "127.0.0.1:3478";
  std::string secret;
  std::string realm_hint;
  std::size_t allocations = 10;
  double rate = 50;
  std::size_t size = 100;
  double duration = 5;
  double warmup = 0;  // seconds at the start whose round trips stay out of the percentiles
  bool indications = false;
  unsigned threads = 1;
  std::size_t peers = 16;
  std::uint16_t peer_port = 20100;
  std::string bind = "127.0.0.1";  // the generator's address: its clients and echo peers
  std::string peer_bind;           // the echo peers' address when it differs (another family)
  std::string echo_in_kernel;      // an interface: the echo peers as an eBPF program on it
  int server_cpu = -1;              // a core of the server's own, to report its busy time
  int generator_cpu = -1;           // the generator's core, to report its busy time (kernel work too)
  bool json = false;
  bool ceiling = false;
  double churn = 0;  // allocations deleted and re-created per second during the run
  double refresh = 0;  // seconds between one allocation's Refresh and re-bind (0: never; for runs past lifetimes)
  int server_pid = 0;  // to report the server's CPU and memory
  std::size_t circulate = 0;  // packets per allocation sent once and bounced by the kernel echo
};

struct Errors {
  std::mutex mutex;
  std::map<std::string, std::uint64_t> by_kind;
  void add(const std::string& kind) {
    std::lock_guard lock(mutex);
    ++by_kind[kind];
  }
};

struct Allocation {
  int fd = -1;
  std::size_t index = 0;
  std::uint16_t channel = 0;
  Endpoint peer;
  std::string username;
  std::string password;
  std::string realm;
  std::string nonce;
  std::uint64_t seq = 0;
  bool ready = false;
};

// Waits for the STUN answer with this transaction id on `fd`.
std::optional<std::vector<std::byte>> await(int fd, const stun::TransactionId& tid, int timeout_ms) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  std::vector<std::byte> buf(2048);
  while (Clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 10) <= 0) continue;
    const ssize_t n = ::recv(fd, buf.data(), buf.size(), MSG_DONTWAIT);
    if (n <= 0) continue;
    auto m = stun::MessageView::parse(Bytes(buf.data(), static_cast<std::size_t>(n)));
    if (m && std::memcmp(m->transaction_id_ptr(), tid.data(), tid.size()) == 0) {
      buf.resize(static_cast<std::size_t>(n));
      return buf;
    }
  }
  return std::nullopt;
}

class Worker {
 public:
  Worker(const Options& o, const IpAddress& bind, const Endpoint& server, const Peers& peers, Errors& errors)
      : o_(o), bind_(bind), server_(server), peers_(peers), errors_(errors) {}

  void add(std::size_t index) {
    Allocation a;
    a.index = index;
    a.peer = peers_.endpoint(index);
    a.channel = static_cast<std::uint16_t>(0x4000 + (o_.ceiling ? index % o_.peers : 0));
    allocs_.push_back(std::move(a));
  }

  // Allocate (with the 401 round), then ChannelBind or CreatePermission. Returns how many worked.
  // Sets every allocation up, kWindow at a time in flight, so the rate measured is the
  // server's and not one round trip after another.
  std::size_t set_up() {
    if (o_.ceiling) {
      for (auto& a : allocs_) open_and_set_up(a);
    } else {
      pipelined_set_up();
    }
    std::size_t ok = 0;
    for (const auto& a : allocs_) ok += a.ready;
    return ok;
  }

  // Probes sent before `measured_ns` count as sent and received, but their round trips stay
  // out of the histogram (--warmup).
  void run(std::int64_t start_ns, std::int64_t measured_ns, std::int64_t end_ns) {
    measured_ns_ = measured_ns;
    int ep = ::epoll_create1(0);
    for (std::size_t i = 0; i < allocs_.size(); ++i) {
      epoll_event ev{EPOLLIN, {.u64 = i}};
      ::epoll_ctl(ep, EPOLL_CTL_ADD, allocs_[i].fd, &ev);
    }
    std::vector<std::byte> packet(std::max<std::size_t>(o_.size, kProbeHeader) + 128);
    const double interval_ns = 1e9 / (o_.rate * static_cast<double>(std::max<std::size_t>(allocs_.size(), 1)));
    std::uint64_t due_total = 0;
    std::size_t next = 0;
    const std::int64_t churn_interval =
        o_.churn > 0 ? static_cast<std::int64_t>(1e9 / (o_.churn / std::max(1u, o_.threads))) : 0;
    std::int64_t next_churn = start_ns + churn_interval;
    // --refresh: each allocation in turn, spread over the interval, as a client keeps a call.
    const std::int64_t refresh_interval =
        o_.refresh > 0 && !allocs_.empty() ? static_cast<std::int64_t>(o_.refresh * 1e9 / static_cast<double>(allocs_.size())) : 0;
    std::int64_t next_refresh = start_ns + refresh_interval;
    std::size_t refresh_next = 0;
    epoll_event events[256];
    std::vector<std::byte> rx(kBatch * 2048);
    while (true) {
      const std::int64_t t = now_ns();
      if (t >= end_ns + 1'000'000'000) break;  // one second to drain after the last send
      if (t < end_ns && !allocs_.empty()) {
        const auto want = static_cast<std::uint64_t>(static_cast<double>(t - start_ns) / interval_ns);
        // How late the oldest probe not yet sent is: a sender that was descheduled or stalled
        // catches up in one burst, which a server may drop for reasons of the generator's own.
        if (due_total < want) {
          const auto due_at = start_ns + static_cast<std::int64_t>(static_cast<double>(due_total) * interval_ns);
          max_lag_ns = std::max(max_lag_ns, t - due_at);
        }
        // Flooding one allocation: batch the backlog with sendmmsg.
        while (due_total < want) {
          Allocation& a = allocs_[next];
          const std::uint64_t n = std::min<std::uint64_t>(allocs_.size() == 1 ? want - due_total : 1, kBatch);
          send_probes(a, static_cast<int>(n), packet);
          due_total += n;
          next = (next + 1) % allocs_.size();
        }
        if (refresh_interval > 0 && t >= next_refresh) {
          refresh(allocs_[refresh_next++ % allocs_.size()]);
          next_refresh += refresh_interval;
        }
        if (churn_interval > 0 && t >= next_churn) {
          churn(allocs_[churn_next_ % allocs_.size()], ep, churn_next_ % allocs_.size());
          ++churn_next_;
          next_churn += churn_interval;
        }
      }
      const int n = ::epoll_wait(ep, events, 256, 0);
      for (int e = 0; e < n; ++e) receive(allocs_[events[e].data.u64], rx);
      if (n == 0) std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
    ::close(ep);
  }

  // --circulate: the ready allocations' client ports, their packets sent once (`count` each),
  // and at the end what came back to them.
  std::vector<std::uint16_t> client_ports() const {
    std::vector<std::uint16_t> ports;
    for (const auto& a : allocs_)
      if (a.ready) ports.push_back(net::local_endpoint(a.fd).port);
    return ports;
  }
  std::uint64_t seed(int count) {
    std::vector<std::byte> packet(std::max<std::size_t>(o_.size, kProbeHeader) + 128);
    const std::uint64_t before = sent;
    for (auto& a : allocs_) send_probes(a, count, packet);
    return sent - before;
  }
  std::uint64_t count_arrived() {
    std::vector<std::byte> rx(2048);
    std::uint64_t n = 0;
    for (auto& a : allocs_) {
      if (!a.ready) continue;
      ssize_t got;
      while ((got = ::recv(a.fd, rx.data(), rx.size(), MSG_DONTWAIT)) > 0)
        n += stun::parse_channel_data(Bytes(rx.data(), static_cast<std::size_t>(got))).has_value();
    }
    return n;
  }

  void close_all() {
    for (auto& a : allocs_) {
      if (a.fd >= 0 && a.ready && !o_.ceiling) refresh_zero(a);
      if (a.fd >= 0) ::close(a.fd);
      a.fd = -1;
    }
  }

  Histogram rtt;
  std::uint64_t sent = 0;
  std::uint64_t received = 0;
  std::uint64_t churned = 0;
  std::uint64_t refreshed = 0;
  std::int64_t max_lag_ns = 0;  // the furthest this sender fell behind its schedule
  double setup_seconds = 0;

 private:
  bool transact(Allocation& a, stun::Method m, const std::function<void(stun::MessageBuilder&)>& attrs,
                std::vector<std::byte>& answer, int& code) {
    for (int attempt = 0; attempt < 4; ++attempt) {
      std::vector<std::byte> buf(1024);
      auto tid = stun::TransactionId{};
      auth::random_bytes(tid.data(), tid.size());
      stun::MessageBuilder b(buf, m, stun::Class::request, tid.data());
      attrs(b);
      if (!a.nonce.empty()) {
        b.add_text(stun::attr::username, a.username).add_text(stun::attr::realm, a.realm).add_text(stun::attr::nonce, a.nonce);
        b.add_integrity(stun::long_term_key(a.username, a.realm, a.password));
      }
      auto msg = b.finish();
      ::send(a.fd, msg->data(), msg->size(), 0);
      auto r = await(a.fd, tid, 500);
      if (!r) {
        errors_.add(std::string(m == stun::Method::allocate ? "allocate" : "set-up") + " timeout");
        continue;
      }
      answer = std::move(*r);
      auto v = stun::MessageView::parse(answer);
      code = 0;
      if (auto e = v->find(stun::attr::error_code)) code = stun::decode_error_code(*e)->code;
      if ((code == 401 && a.nonce.empty()) || code == 438) {
        a.realm = std::string(v->find_text(stun::attr::realm).value_or(""));
        a.nonce = std::string(v->find_text(stun::attr::nonce).value_or(""));
        continue;
      }
      return true;
    }
    return false;
  }

  // Valid for the whole run and an hour more, so that long runs with --refresh outlive no credential.
  std::string username_for(std::size_t index) const {
    return std::to_string(std::time(nullptr) + 3600 + static_cast<std::int64_t>(o_.duration)) + ":loadgen" +
           std::to_string(index);
  }

  void open_and_set_up(Allocation& a) {
    auto fd = net::open_udp(Endpoint{bind_, 0}, net::UdpOptions{false, false, 1 << 20, 1 << 20});
    if (!fd) {
      errors_.add("client socket");
      return;
    }
    a.fd = *fd;
    sockaddr_storage sa;
    const socklen_t len = net::to_sockaddr(server_, sa);
    ::connect(a.fd, reinterpret_cast<sockaddr*>(&sa), len);
    if (o_.ceiling) {
      a.ready = true;
      return;
    }
    a.username = username_for(a.index);
    a.password = auth::rest_password(o_.secret, a.username);
    a.nonce.clear();
    std::vector<std::byte> answer;
    int code = 0;
    if (!transact(a, stun::Method::allocate, [&](stun::MessageBuilder& b) { allocate_attributes(b, a); }, answer,
                  code) || code != 0) {
      errors_.add("allocate " + std::to_string(code));
      return;
    }
    if (o_.indications) {
      if (!transact(a, stun::Method::create_permission, [&](stun::MessageBuilder& b) {
            b.add_xor_address(stun::attr::xor_peer_address, a.peer);
          }, answer, code) || code != 0) {
        errors_.add("create-permission " + std::to_string(code));
        return;
      }
    } else if (!transact(a, stun::Method::channel_bind, [&](stun::MessageBuilder& b) {
                 b.add_u32(stun::attr::channel_number, std::uint32_t{a.channel} << 16);
                 b.add_xor_address(stun::attr::xor_peer_address, a.peer);
               }, answer, code) || code != 0) {
      errors_.add("channel-bind " + std::to_string(code));
      return;
    }
    a.ready = true;
  }

  // Stage of one allocation's set-up: 0 challenge, 1 Allocate, 2 ChannelBind/CreatePermission.
  struct Pending {
    int stage = 0;
    int tries = 0;
    stun::TransactionId tid{};
    std::int64_t sent_ns = 0;
    bool active = false;
  };

  // UDP, and for peers of the other family a relayed address of theirs (RFC 8656 §7.2).
  void allocate_attributes(stun::MessageBuilder& b, const Allocation& a) const {
    b.add_u32(stun::attr::requested_transport, std::uint32_t{17} << 24);
    if (a.peer.ip.family() != bind_.family())
      b.add_u32(stun::attr::requested_address_family, std::uint32_t{a.peer.ip.is_v4() ? 0x01u : 0x02u} << 24);
    if (o_.refresh > 0) b.add_u32(stun::attr::lifetime, 600);  // what the refreshes keep, whatever the default
  }

  void send_stage(Allocation& a, Pending& p) {
    std::vector<std::byte> buf(1024);
    auth::random_bytes(p.tid.data(), p.tid.size());
    const stun::Method m = p.stage < 2 ? stun::Method::allocate
                           : o_.indications ? stun::Method::create_permission
                                            : stun::Method::channel_bind;
    stun::MessageBuilder b(buf, m, stun::Class::request, p.tid.data());
    if (p.stage < 2) {
      allocate_attributes(b, a);
    } else {
      if (!o_.indications) b.add_u32(stun::attr::channel_number, std::uint32_t{a.channel} << 16);
      b.add_xor_address(stun::attr::xor_peer_address, a.peer);
    }
    if (p.stage > 0) {
      b.add_text(stun::attr::username, a.username).add_text(stun::attr::realm, a.realm).add_text(stun::attr::nonce, a.nonce);
      b.add_integrity(stun::long_term_key(a.username, a.realm, a.password));
    }
    auto msg = b.finish();
    ::send(a.fd, msg->data(), msg->size(), 0);
    p.sent_ns = now_ns();
    ++p.tries;
  }

  void pipelined_set_up() {
    constexpr std::size_t kWindow = 64;
    const int ep = ::epoll_create1(0);
    std::vector<Pending> pending(allocs_.size());
    std::size_t next = 0;
    std::size_t in_flight = 0;
    std::size_t finished = 0;
    std::vector<std::byte> rx(2048);
    auto finish = [&](std::size_t i, const std::string& error) {
      if (!error.empty()) errors_.add(error);
      pending[i].active = false;
      ::epoll_ctl(ep, EPOLL_CTL_DEL, allocs_[i].fd, nullptr);
      --in_flight;
      ++finished;
    };
    std::int64_t last_scan = now_ns();
    while (finished < allocs_.size()) {
      while (in_flight < kWindow && next < allocs_.size()) {
        Allocation& a = allocs_[next];
        auto fd = net::open_udp(Endpoint{bind_, 0}, net::UdpOptions{false, false, 1 << 20, 1 << 20});
        if (!fd) {
          errors_.add("client socket");
          ++finished;
          ++next;
          continue;
        }
        a.fd = *fd;
        sockaddr_storage sa;
        const socklen_t len = net::to_sockaddr(server_, sa);
        ::connect(a.fd, reinterpret_cast<sockaddr*>(&sa), len);
        a.username = username_for(a.index);
        a.password = auth::rest_password(o_.secret, a.username);
        epoll_event ev{EPOLLIN, {.u64 = next}};
        ::epoll_ctl(ep, EPOLL_CTL_ADD, a.fd, &ev);
        pending[next] = Pending{};
        pending[next].active = true;
        send_stage(a, pending[next]);
        ++in_flight;
        ++next;
      }
      epoll_event events[128];
      const int n = ::epoll_wait(ep, events, 128, 20);
      for (int e = 0; e < n; ++e) {
        const std::size_t i = events[e].data.u64;
        Allocation& a = allocs_[i];
        Pending& p = pending[i];
        for (;;) {
          const ssize_t got = ::recv(a.fd, rx.data(), rx.size(), MSG_DONTWAIT);
          if (got <= 0 || !p.active) break;
          auto m = stun::MessageView::parse(Bytes(rx.data(), static_cast<std::size_t>(got)));
          if (!m || std::memcmp(m->transaction_id_ptr(), p.tid.data(), p.tid.size()) != 0) continue;
          int code = 0;
          if (auto ec = m->find(stun::attr::error_code)) code = stun::decode_error_code(*ec)->code;
          if ((p.stage == 0 && code == 401) || code == 438) {
            a.realm = std::string(m->find_text(stun::attr::realm).value_or(""));
            a.nonce = std::string(m->find_text(stun::attr::nonce).value_or(""));
            p.stage = std::max(p.stage, 1);
            p.tries = 0;
            send_stage(a, p);
          } else if (code != 0) {
            finish(i, std::string(p.stage < 2 ? "allocate " : "set-up ") + std::to_string(code));
          } else if (p.stage < 2) {
            p.stage = 2;
            p.tries = 0;
            send_stage(a, p);
          } else {
            a.ready = true;
            finish(i, "");
          }
        }
      }
      const std::int64_t t = now_ns();
      if (t - last_scan > 50'000'000) {  // retransmit after 500 ms, give up after 4 tries
        last_scan = t;
        for (std::size_t i = 0; i < next; ++i) {
          Pending& p = pending[i];
          if (!p.active || t - p.sent_ns < 500'000'000) continue;
          if (p.tries >= 4) finish(i, p.stage < 2 ? "allocate timeout" : "set-up timeout");
          else send_stage(allocs_[i], p);
        }
      }
    }
    ::close(ep);
  }

  // Refresh (a new full lifetime) and the channel or permission again: what a client in a long
  // call does. A failure is an allocation the relay lost.
  void refresh(Allocation& a) {
    if (!a.ready || o_.ceiling) return;
    std::vector<std::byte> answer;
    int code = 0;
    if (!transact(a, stun::Method::refresh, [](stun::MessageBuilder& b) { b.add_u32(stun::attr::lifetime, 600); },
                  answer, code) || code != 0) {
      errors_.add("refresh " + std::to_string(code));
      a.ready = false;
      return;
    }
    const bool ok = transact(a, o_.indications ? stun::Method::create_permission : stun::Method::channel_bind,
                             [&](stun::MessageBuilder& b) {
                               if (!o_.indications) b.add_u32(stun::attr::channel_number, std::uint32_t{a.channel} << 16);
                               b.add_xor_address(stun::attr::xor_peer_address, a.peer);
                             },
                             answer, code);
    if (!ok || code != 0) {
      errors_.add("re-bind " + std::to_string(code));
      a.ready = false;
      return;
    }
    ++refreshed;
  }

  void refresh_zero(Allocation& a) {
    std::vector<std::byte> answer;
    int code = 0;
    transact(a, stun::Method::refresh, [](stun::MessageBuilder& b) { b.add_u32(stun::attr::lifetime, 0); }, answer,
             code);
  }

  void churn(Allocation& a, int ep, std::size_t slot) {
    ::epoll_ctl(ep, EPOLL_CTL_DEL, a.fd, nullptr);
    if (a.ready) refresh_zero(a);
    ::close(a.fd);
    a.fd = -1;
    a.ready = false;
    open_and_set_up(a);
    if (a.fd >= 0) {
      epoll_event ev{EPOLLIN, {.u64 = slot}};
      ::epoll_ctl(ep, EPOLL_CTL_ADD, a.fd, &ev);
    }
    ++churned;
  }

  void send_probes(Allocation& a, int count, std::vector<std::byte>& packet) {
    if (!a.ready) return;
    const std::size_t payload = std::max(o_.size, kProbeHeader);
    std::size_t header = 0;
    std::vector<std::byte>& buf = packet;
    if (o_.indications) {
      header = write_send_indication(buf.data(), a.peer, payload);
    } else {
      header = 4;
      stun::write_channel_header(buf.data(), a.channel, static_cast<std::uint16_t>(payload));
    }
    const std::size_t total = header + ((payload + 3) & ~std::size_t{3});
    mmsghdr hdr[kBatch];
    iovec iov[kBatch];
    std::vector<std::byte>& copies = copies_;
    if (copies.size() < static_cast<std::size_t>(count) * total) copies.resize(static_cast<std::size_t>(kBatch) * 1600);
    for (int i = 0; i < count; ++i) {
      std::byte* p = copies.data() + static_cast<std::size_t>(i) * total;
      std::memcpy(p, buf.data(), header);
      write_probe(p + header, total - header, static_cast<std::uint32_t>(a.index), a.seq++);
      iov[i] = {p, total};
      hdr[i] = mmsghdr{};
      hdr[i].msg_hdr.msg_iov = &iov[i];
      hdr[i].msg_hdr.msg_iovlen = 1;
    }
    int done = 0;
    while (done < count) {
      const int r = ::sendmmsg(a.fd, hdr + done, static_cast<unsigned>(count - done), MSG_DONTWAIT);
      if (r <= 0) {
        errors_.add("send failed");
        break;
      }
      done += r;
    }
    sent += static_cast<std::uint64_t>(done);
  }

  void receive(Allocation& a, std::vector<std::byte>& rx) {
    mmsghdr hdr[kBatch];
    iovec iov[kBatch];
    for (;;) {
      for (int i = 0; i < kBatch; ++i) {
        iov[i] = {rx.data() + i * 2048, 2048};
        hdr[i] = mmsghdr{};
        hdr[i].msg_hdr.msg_iov = &iov[i];
        hdr[i].msg_hdr.msg_iovlen = 1;
      }
      const int got = ::recvmmsg(a.fd, hdr, kBatch, MSG_DONTWAIT, nullptr);
      if (got <= 0) return;
      const std::int64_t t = now_ns();
      for (int i = 0; i < got; ++i) {
        const auto sent_at = probe_sent_at(Bytes(rx.data() + i * 2048, hdr[i].msg_len));
        if (!sent_at) continue;
        if (*sent_at >= measured_ns_) rtt.record(static_cast<std::uint64_t>(std::max<std::int64_t>(t - *sent_at, 0)));
        ++received;
      }
      if (got < kBatch) return;
    }
  }

  const Options& o_;
  IpAddress bind_;
  Endpoint server_;
  const Peers& peers_;
  Errors& errors_;
  std::vector<Allocation> allocs_;
  std::size_t churn_next_ = 0;
  std::int64_t measured_ns_ = 0;
  std::vector<std::byte> copies_;
};

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"hush-loadgen: TURN load generator with echo peers"};
  app.add_option("--server", o.server, "TURN server IP:PORT")->capture_default_str();
  app.add_option("--secret", o.secret, "REST shared secret (coturn use-auth-secret)");
  app.add_option("--allocations", o.allocations, "Allocations")->capture_default_str();
  app.add_option("--rate", o.rate, "Packets per second per allocation, each way")->capture_default_str();
  app.add_option("--size", o.size, "Payload bytes")->capture_default_str();
  app.add_option("--duration", o.duration, "Seconds of traffic")->capture_default_str();
  app.add_option("--warmup", o.warmup,
                 "Seconds at the start of the traffic whose round trips are left out of the latency percentiles "
                 "(loss, rates and CPU still cover the whole run)")
      ->capture_default_str();
  app.add_flag("--indications", o.indications, "Send/Data indications instead of channels");
  app.add_option("--threads", o.threads, "Sender threads")->capture_default_str();
  app.add_option("--peers", o.peers, "Echo peer sockets")->capture_default_str();
  app.add_option("--peer-port", o.peer_port, "First echo peer port")->capture_default_str();
  app.add_option("--bind", o.bind, "The generator's address (its clients and echo peers)")->capture_default_str();
  app.add_option("--peer-bind", o.peer_bind,
                 "The echo peers' address, if not --bind's (the other family: relayed addresses of it are asked for)");
  app.add_option("--echo-in-kernel", o.echo_in_kernel,
                 "Run the echo peers as an eBPF program on this interface (root; the generator's cost per packet "
                 "drops by the peers' socket work)");
  app.add_option("--generator-cpu", o.generator_cpu,
                 "The generator's core: report its busy time (/proc/stat), kernel work included");
  app.add_option("--server-cpu", o.server_cpu,
                 "A core the server has to itself: report its busy time (/proc/stat) per relayed packet");
  app.add_option("--churn", o.churn, "Allocations deleted and re-created per second")->capture_default_str();
  app.add_option("--refresh", o.refresh,
                 "Seconds between one allocation's Refresh and re-bind, spread over the allocations (0: never); "
                 "for runs longer than a lifetime (600 s) or a permission (300 s)")
      ->capture_default_str();
  app.add_flag("--ceiling", o.ceiling, "Talk to hush-ceiling: no TURN set-up, channel = 0x4000 + peer index");
  app.add_flag("--json", o.json, "Print JSON instead of a table");
  app.add_option("--server-pid", o.server_pid, "PID of the server, to report its CPU per packet and RSS");
  app.add_option("--circulate", o.circulate,
                 "Closed loop (with --echo-in-kernel, channels, the peers at --bind): send N packets per allocation "
                 "once and let the kernel send back what reaches the clients as well as the peers, so they go round "
                 "through the relay with no generator in the loop; reports the rate the relay reached over "
                 "--duration (after --warmup) and how many of the packets were left at the end (--rate is unused)");
  CLI11_PARSE(app, argc, argv);
  auto server = Endpoint::parse(o.server);
  auto bind = IpAddress::parse(o.bind);
  auto peer_bind = IpAddress::parse(o.peer_bind.empty() ? o.bind : o.peer_bind);
  if (!server || !bind || !peer_bind || o.threads == 0 || o.rate <= 0 || o.size > 1400 || (!o.ceiling && o.secret.empty()) ||
      o.warmup < 0 || o.warmup >= o.duration ||
      (o.circulate > 0 && (o.echo_in_kernel.empty() || o.indications || o.churn > 0 || *peer_bind != *bind ||
                           o.circulate > static_cast<std::size_t>(kBatch)))) {
    std::fprintf(stderr,
                 "hush-loadgen: need --server IP:PORT, --bind IP, --secret (unless --ceiling), --size <= 1400, "
                 "0 <= --warmup < --duration; --circulate (at most 32) needs --echo-in-kernel, channels, no churn and "
                 "the peers at --bind\n");
    return 2;
  }
  o.peers = std::max<std::size_t>(1, std::min(o.peers, o.allocations));

  Errors errors;
  std::unique_ptr<Peers> echo;
  try {
    echo = o.echo_in_kernel.empty() ? std::make_unique<Peers>(*peer_bind, o.peers, o.peer_port)
                                    : std::make_unique<Peers>(*peer_bind, o.peers, o.peer_port, o.echo_in_kernel,
                                                              o.circulate > 0);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hush-loadgen: %s\n", e.what());
    return 1;
  }
  const Peers& peers = *echo;
  std::vector<std::unique_ptr<Worker>> workers;
  for (unsigned t = 0; t < o.threads; ++t) workers.push_back(std::make_unique<Worker>(o, *bind, *server, peers, errors));
  for (std::size_t i = 0; i < o.allocations; ++i) workers[i % o.threads]->add(i);

  const auto setup_start = Clock::now();
  std::atomic<std::size_t> ready{0};
  {
    std::vector<std::thread> ts;
    for (auto& w : workers) ts.emplace_back([&] { ready += w->set_up(); });
    for (auto& t : ts) t.join();
  }
  const double setup_s = std::chrono::duration<double>(Clock::now() - setup_start).count();

  // The server core's busy time with no traffic (timer ticks, the rest of the machine) over one
  // second, so the per-packet figure can be given net of it as well.
  double core_idle_pct = 0;
  if (o.server_cpu >= 0) {
    const BusyClock idle(o.server_cpu);
    const auto t0 = Clock::now();
    std::this_thread::sleep_for(std::chrono::seconds(1));
    core_idle_pct = 100.0 * idle.seconds() / std::chrono::duration<double>(Clock::now() - t0).count();
  }
  // The drop counters first: with 10,000 allocations each read walks 20,000 descriptors and
  // table lines, a few hundred milliseconds that must pass before the start is set (the
  // senders would catch up on them in one burst) and before the CPU clocks start.
  // --circulate: the packets go in now and go round from here on; the measurement starts
  // after the warm-up.
  std::vector<std::uint16_t> client_ports;
  std::uint64_t seeded = 0;
  if (o.circulate > 0) {
    for (auto& w : workers) {
      const auto p = w->client_ports();
      client_ports.insert(client_ports.end(), p.begin(), p.end());
    }
    peers.reflect_clients(client_ports, true);
    for (auto& w : workers) seeded += w->seed(static_cast<int>(o.circulate));
    std::this_thread::sleep_for(std::chrono::duration<double>(o.warmup));
  }
  const std::uint64_t generator_drops0 = socket_drops(0);
  const std::uint64_t server_drops0 = o.server_pid > 0 ? socket_drops(o.server_pid) : 0;
  const double cpu0 = cpu_seconds();
  const double server_cpu0 = process_cpu_seconds(o.server_pid);
  const BusyClock machine_clock(-1);
  const BusyClock core_clock(std::max(o.server_cpu, 0));
  const BusyClock generator_clock(std::max(o.generator_cpu, 0));
  const std::int64_t start = now_ns() + (o.circulate > 0 ? 0 : 50'000'000);
  const std::int64_t end = start + static_cast<std::int64_t>(o.duration * 1e9);
  const std::int64_t measured = start + static_cast<std::int64_t>(o.warmup * 1e9);
  const std::uint64_t peer0 = peers.received();
  const std::uint64_t client0 = peers.reflected();
  if (o.circulate > 0) {
    std::this_thread::sleep_for(std::chrono::nanoseconds(end - now_ns()));
  } else {
    std::vector<std::thread> ts;
    for (auto& w : workers) ts.emplace_back([&] {
      while (now_ns() < start) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      w->run(start, measured, end);
    });
    for (auto& t : ts) t.join();
  }
  const std::uint64_t to_peer_window = peers.received() - peer0, to_client_window = peers.reflected() - client0;
  const double cpu = cpu_seconds() - cpu0;
  const double server_cpu = process_cpu_seconds(o.server_pid) - server_cpu0;
  const double machine = machine_clock.seconds();
  const double core = o.server_cpu >= 0 ? core_clock.seconds() : 0;
  const double generator_core = o.generator_cpu >= 0 ? generator_clock.seconds() : 0;
  const long server_rss = process_rss_kib(o.server_pid);
  // Sockets closed during the run (churn) take their counts along: never below zero.
  const std::uint64_t generator_drops1 = socket_drops(0);
  const std::uint64_t server_drops1 = o.server_pid > 0 ? socket_drops(o.server_pid) : 0;
  const std::uint64_t generator_drops = generator_drops1 - std::min(generator_drops1, generator_drops0);
  const std::uint64_t server_drops = server_drops1 - std::min(server_drops1, server_drops0);
  const double wall = static_cast<double>(now_ns() - start) / 1e9;
  std::uint64_t left = 0;  // --circulate: packets still going round at the end
  if (o.circulate > 0) {
    peers.reflect_clients(client_ports, false);  // what reaches a client now stays there
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    for (auto& w : workers) left += w->count_arrived();
  }
  for (auto& w : workers) w->close_all();

  Histogram rtt;
  std::uint64_t sent = 0, received = 0, churned = 0, refreshed = 0;
  std::int64_t max_lag_ns = 0;
  for (auto& w : workers) {
    refreshed += w->refreshed;
    rtt.merge(w->rtt);
    sent += w->sent;
    received += w->received;
    churned += w->churned;
    max_lag_ns = std::max(max_lag_ns, w->max_lag_ns);
  }
  const double max_lag_ms = static_cast<double>(max_lag_ns) / 1e6;
  std::uint64_t at_peers = to_peer_window;
  if (o.circulate > 0) {  // sent: the packets put in; received: the client side's bounces in the window
    sent = seeded;
    received = to_client_window;
  }
  const std::uint64_t back = o.circulate > 0 ? left : received;
  const double loss = sent ? 100.0 * static_cast<double>(sent - std::min(sent, back)) / static_cast<double>(sent) : 0;
  auto us = [&](double q) { return static_cast<double>(rtt.quantile(q)) / 1000.0; };
  // Each packet crosses the relay twice (to the peer, and back); both count as relayed.
  const double relayed = static_cast<double>(at_peers + received);
  const double server_us = relayed > 0 ? server_cpu * 1e6 / relayed : 0;
  const double machine_us = relayed > 0 ? machine * 1e6 / relayed : 0;
  // The machine less this generator: the server's user-space and kernel work together, which
  // /proc/PID/stat cannot show for a kernel fast path (softirq time belongs to no process).
  const double net_us = relayed > 0 ? std::max(0.0, machine - cpu) * 1e6 / relayed : 0;
  const double core_us = relayed > 0 ? core * 1e6 / relayed : 0;
  const double core_net_us = relayed > 0 ? std::max(0.0, core - core_idle_pct / 100.0 * wall) * 1e6 / relayed : 0;
  if (o.json) {
    std::printf("{\"allocations\":%zu,\"ready\":%zu,\"setup_per_s\":%.1f,\"offered_pps\":%.1f,\"sent\":%" PRIu64
                ",\"to_peer\":%" PRIu64 ",\"to_client\":%" PRIu64 ",\"to_peer_pps\":%.1f,\"to_client_pps\":%.1f,"
                "\"loss_pct\":%.3f,\"rtt_us\":{\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"p999\":%.1f,\"max\":%.1f},"
                "\"churned\":%" PRIu64 ",\"refreshed\":%" PRIu64 ",\"generator_cpu_pct\":%.1f,\"server_cpu_s\":%.3f,\"server_us_per_pkt\":%.3f,"
                "\"server_rss_kib\":%ld,\"machine_us_per_pkt\":%.3f,\"net_us_per_pkt\":%.3f,\"core_us_per_pkt\":%.3f,"
                "\"core_busy_pct\":%.1f,\"core_idle_pct\":%.1f,\"core_net_us_per_pkt\":%.3f,"
                "\"generator_core_busy_pct\":%.1f,\"generator_drops\":%" PRIu64 ",\"server_drops\":%" PRIu64
                ",\"generator_lag_max_ms\":%.3f,\"warmup_s\":%.3f,\"circulate\":%zu,\"left\":%" PRIu64
                ",\"errors\":{",
                o.allocations, ready.load(), setup_s > 0 ? static_cast<double>(ready.load()) / setup_s : 0,
                o.circulate > 0 ? 0.0 : o.rate * static_cast<double>(o.allocations), sent, at_peers, received,
                static_cast<double>(at_peers) / o.duration, static_cast<double>(received) / o.duration, loss, us(0.5),
                us(0.9), us(0.99), us(0.999), static_cast<double>(rtt.max()) / 1000.0, churned, refreshed, 100.0 * cpu / wall,
                server_cpu, server_us, server_rss, machine_us, net_us, core_us,
                100.0 * core / wall, core_idle_pct, core_net_us, 100.0 * generator_core / wall, generator_drops,
                server_drops, max_lag_ms, o.warmup, o.circulate, left);
    bool first = true;
    for (const auto& [k, v] : errors.by_kind) {
      std::printf("%s\"%s\":%" PRIu64, first ? "" : ",", k.c_str(), v);
      first = false;
    }
    std::printf("}}\n");
  } else {
    std::printf("allocations      %zu ready of %zu, set-up %.0f/s\n", ready.load(), o.allocations,
                setup_s > 0 ? static_cast<double>(ready.load()) / setup_s : 0);
    if (o.circulate > 0)
      std::printf("circulating      %zu packets per allocation (%" PRIu64 " in all), %zu-byte payloads, ChannelData\n",
                  o.circulate, seeded, o.size);
    else
      std::printf("offered          %.0f packets/s each way, %zu-byte payloads, %s\n",
                  o.rate * static_cast<double>(o.allocations), o.size,
                  o.indications ? "Send/Data indications" : "ChannelData");
    std::printf("delivered        %.0f/s to peers, %.0f/s back to clients\n", static_cast<double>(at_peers) / o.duration,
                static_cast<double>(received) / o.duration);
    if (o.circulate > 0)
      std::printf("loss             %.3f%% (%" PRIu64 " put in, %" PRIu64 " still going round at the end)\n", loss, sent,
                  left);
    else
      std::printf("loss             %.3f%% (%" PRIu64 " sent, %" PRIu64 " at peers, %" PRIu64 " back)\n", loss, sent,
                  at_peers, received);
    std::printf("socket drops     %" PRIu64 " at the generator's sockets (it fell behind)", generator_drops);
    if (o.server_pid > 0) std::printf(", %" PRIu64 " at the server's", server_drops);
    std::printf("\n");
    std::printf("round trip (us)  p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f", us(0.5), us(0.9), us(0.99),
                us(0.999), static_cast<double>(rtt.max()) / 1000.0);
    if (o.warmup > 0) std::printf(" (after the first %.1f s)", o.warmup);
    std::printf("\n");
    if (churned) std::printf("churn            %" PRIu64 " allocations replaced\n", churned);
    if (refreshed) std::printf("refresh          %" PRIu64 " refreshes and re-binds\n", refreshed);
    std::printf("generator CPU    %.1f%% of one core; at most %.1f ms behind its schedule (then caught up in a burst)\n",
                100.0 * cpu / wall, max_lag_ms);
    if (o.generator_cpu >= 0)
      std::printf("generator core   %.1f%% busy on CPU %d, kernel work included\n", 100.0 * generator_core / wall,
                  o.generator_cpu);
    if (o.server_pid > 0)
      std::printf("server           %.3f us CPU per relayed packet (%.2f s), RSS %ld KiB; machine %.3f us/packet "
                  "(%.3f without this generator)\n",
                  server_us, server_cpu, server_rss, machine_us, net_us);
    if (o.server_cpu >= 0)
      std::printf("server core      %.3f us busy per relayed packet on CPU %d (%.1f%% busy; %.1f%% before the traffic; "
                  "%.3f us net of that)\n",
                  core_us, o.server_cpu, 100.0 * core / wall, core_idle_pct, core_net_us);
    for (const auto& [k, v] : errors.by_kind) std::printf("error            %s: %" PRIu64 "\n", k.c_str(), v);
  }
  return 0;
}
