// hush-authflood: an authentication flood from many source addresses, for loadtest/bench.sh
// --auth-flood. Each source is a UDP socket on its own loopback address (--sources of them from
// --source-base up). Every source first asks for a nonce as a client would (an Allocate without
// credentials, answered 401 with REALM and NONCE), then the sources take turns sending
// Allocate requests that look valid (a REST username that has not expired, the realm, the nonce
// issued to that source) but carry a MESSAGE-INTEGRITY made with a wrong password, so that the
// server has to compute the key and the HMAC of each one to refuse it.
//
//   hush-authflood --server 127.0.0.1:3478 --sources 4096 --rate 50000 --duration 10 --json
//
// --junk-nonce sends a nonce the server never issued instead (what a spoofer, who receives
// nothing, can send). Reports requests sent, answers received and how answers spread over the
// sources: the most answers one source got is the HMAC work the server spent on it.
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "hush/auth/rest_credential.hpp"
#include "hush/net/udp_socket.hpp"
#include "hush/stun/builder.hpp"
#include "hush/stun/integrity.hpp"
#include "hush/stun/message.hpp"

using namespace hush;
using Clock = std::chrono::steady_clock;

namespace {

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

struct Source {
  int fd = -1;
  std::string realm, nonce;
  std::vector<std::byte> request;  // the signed Allocate; its transaction id changes per send
  std::uint64_t answers = 0;       // during the flood
};

std::uint64_t answer_codes[3];  // during the flood: 401, 438, anything else

// The answer's error code (0 for none or not STUN); fills realm and nonce when it has them.
int read_answer(std::span<const std::byte> d, Source& s) {
  auto m = stun::MessageView::parse(Bytes(d.data(), d.size()));
  if (!m) return 0;
  if (auto r = m->find_text(stun::attr::realm)) s.realm = std::string(*r);
  if (auto n = m->find_text(stun::attr::nonce)) s.nonce = std::string(*n);
  auto e = m->find(stun::attr::error_code);
  if (!e) return 0;
  auto code = stun::decode_error_code(*e);
  return code ? code->code : 0;
}

std::vector<std::byte> unsigned_allocate() {
  std::vector<std::byte> buf(256);
  stun::TransactionId tid{};
  auth::random_bytes(tid.data(), tid.size());
  stun::MessageBuilder b(buf, stun::Method::allocate, stun::Class::request, tid.data());
  b.add_u32(stun::attr::requested_transport, std::uint32_t{17} << 24);
  auto m = b.finish();
  return {m->begin(), m->end()};
}

}  // namespace

int main(int argc, char** argv) {
  std::string server_s = "127.0.0.1:3478", base_s = "127.2.0.1";
  std::size_t sources = 4096;
  double rate = 50000, duration = 10;
  bool junk_nonce = false, json = false;
  CLI::App app{"hush-authflood: requests with wrong MESSAGE-INTEGRITY from many sources"};
  app.add_option("--server", server_s, "TURN server IP:PORT")->capture_default_str();
  app.add_option("--sources", sources, "Source addresses, each its own socket")->capture_default_str();
  app.add_option("--source-base", base_s, "The first source address (IPv4; the others follow it)")
      ->capture_default_str();
  app.add_option("--rate", rate, "Requests per second, all sources together")->capture_default_str();
  app.add_option("--duration", duration, "Seconds of flood")->capture_default_str();
  app.add_flag("--junk-nonce", junk_nonce, "Send a nonce the server never issued (a spoofer's flood)");
  app.add_flag("--json", json, "Print JSON");
  CLI11_PARSE(app, argc, argv);
  auto server = Endpoint::parse(server_s);
  auto base = IpAddress::parse(base_s);
  if (!server || !base || !base->is_v4() || sources == 0 || sources > 1'000'000 || rate <= 0 || duration <= 0) {
    std::fprintf(stderr, "hush-authflood: need --server IP:PORT, an IPv4 --source-base, --sources, --rate, --duration\n");
    return 2;
  }
  std::vector<Source> src(sources);
  const int ep = ::epoll_create1(0);
  const std::uint32_t first = base->v4_host_order();
  for (std::size_t i = 0; i < sources; ++i) {
    const IpAddress ip = IpAddress::v4(first + static_cast<std::uint32_t>(i));
    auto fd = net::open_udp(Endpoint{ip, 0}, net::UdpOptions{});
    if (!fd) {
      std::fprintf(stderr, "hush-authflood: source %zu: %s\n", i, fd.error().message.c_str());
      return 1;
    }
    sockaddr_storage ss{};
    const socklen_t ss_len = net::to_sockaddr(*server, ss);
    if (::connect(*fd, reinterpret_cast<const sockaddr*>(&ss), ss_len) != 0) {
      std::perror("hush-authflood: connect");
      return 1;
    }
    src[i].fd = *fd;
    epoll_event ev{EPOLLIN, {.u64 = i}};
    ::epoll_ctl(ep, EPOLL_CTL_ADD, *fd, &ev);
  }
  std::byte rx[2048];
  epoll_event events[512];
  // Drains what has arrived; during the flood, counts it per source.
  auto drain = [&](int timeout_ms, bool counting) {
    const int n = ::epoll_wait(ep, events, 512, timeout_ms);
    for (int k = 0; k < n; ++k) {
      Source& s = src[events[k].data.u64];
      ssize_t len;
      while ((len = ::recv(s.fd, rx, sizeof rx, MSG_DONTWAIT)) > 0) {
        const int code = read_answer({rx, static_cast<std::size_t>(len)}, s);
        if (!counting) continue;
        ++s.answers;
        ++answer_codes[code == 401 ? 0 : code == 438 ? 1 : 2];
      }
    }
  };

  // Nonces, as a client gets them: a few rounds for the sources whose 401 did not come back
  // (a server may limit its answers to unauthenticated requests per prefix).
  std::size_t with_nonce = 0;
  if (!junk_nonce) {
    for (int round = 0; round < 20 && with_nonce < sources; ++round) {
      for (auto& s : src)
        if (s.nonce.empty()) {
          auto m = unsigned_allocate();
          ::send(s.fd, m.data(), m.size(), 0);
        }
      const auto until = now_ns() + 500'000'000;
      while (now_ns() < until) drain(10, false);
      with_nonce = static_cast<std::size_t>(std::count_if(src.begin(), src.end(), [](const Source& s) { return !s.nonce.empty(); }));
    }
  }
  // The requests: valid in every way but the password.
  const std::string username = std::to_string(std::time(nullptr) + 3600) + ":caller";
  std::byte wrong[16];
  auth::random_bytes(wrong, sizeof wrong);
  for (auto& s : src) {
    if (s.nonce.empty()) {
      s.nonce = "obviously-not-a-nonce-issued-by-the-server";
      if (s.realm.empty()) s.realm = "hush";
    }
    std::vector<std::byte> buf(512);
    stun::TransactionId tid{};
    auth::random_bytes(tid.data(), tid.size());
    stun::MessageBuilder b(buf, stun::Method::allocate, stun::Class::request, tid.data());
    b.add_u32(stun::attr::requested_transport, std::uint32_t{17} << 24);
    b.add_text(stun::attr::username, username).add_text(stun::attr::realm, s.realm).add_text(stun::attr::nonce, s.nonce);
    b.add_integrity(Bytes(wrong, sizeof wrong));
    auto m = b.finish();
    s.request.assign(m->begin(), m->end());
  }

  const std::int64_t start = now_ns(), end = start + static_cast<std::int64_t>(duration * 1e9);
  const double interval_ns = 1e9 / rate;
  std::uint64_t sent = 0, send_errors = 0;
  std::size_t next = 0;
  while (true) {
    const std::int64_t t = now_ns();
    if (t >= end) break;
    const auto due = static_cast<std::uint64_t>(static_cast<double>(t - start) / interval_ns);
    for (int k = 0; k < 64 && sent < due; ++k) {
      Source& s = src[next];
      next = (next + 1) % sources;
      // A new transaction each time: bytes 8..19 of the header. The integrity was wrong anyway.
      std::uint64_t seq = sent;
      std::memcpy(s.request.data() + 12, &seq, sizeof seq);
      if (::send(s.fd, s.request.data(), s.request.size(), MSG_DONTWAIT) < 0) ++send_errors;
      ++sent;
    }
    drain(0, true);
    if (sent >= due) std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  const auto until = now_ns() + 500'000'000;  // answers still on their way
  while (now_ns() < until) drain(10, true);
  const double wall = static_cast<double>(now_ns() - start - 500'000'000) / 1e9;

  std::uint64_t answers = 0, most = 0, answered_sources = 0;
  std::vector<std::uint64_t> per;
  for (const auto& s : src) {
    answers += s.answers;
    most = std::max(most, s.answers);
    answered_sources += s.answers > 0;
    per.push_back(s.answers);
  }
  std::sort(per.begin(), per.end());
  const std::uint64_t median = per[per.size() / 2];
  if (json) {
    std::printf("{\"sources\":%zu,\"with_nonce\":%zu,\"junk_nonce\":%s,\"offered_per_s\":%.0f,\"sent\":%" PRIu64
                ",\"sent_per_s\":%.0f,\"send_errors\":%" PRIu64 ",\"answers\":%" PRIu64 ",\"answered_sources\":%" PRIu64
                ",\"answers_per_source_max\":%" PRIu64 ",\"answers_per_source_median\":%" PRIu64
                ",\"codes\":{\"401\":%" PRIu64 ",\"438\":%" PRIu64 ",\"other\":%" PRIu64 "}}\n",
                sources, with_nonce, junk_nonce ? "true" : "false", rate, sent, static_cast<double>(sent) / wall,
                send_errors, answers, answered_sources, most, median, answer_codes[0], answer_codes[1], answer_codes[2]);
  } else {
    std::printf("sources      %zu (%zu with a nonce the server issued)\n", sources, with_nonce);
    std::printf("sent         %" PRIu64 " requests, %.0f/s (%" PRIu64 " send errors)\n", sent,
                static_cast<double>(sent) / wall, send_errors);
    std::printf("answered     %" PRIu64 " (%.2f%%), %" PRIu64 " sources answered; per source: median %" PRIu64
                ", most %" PRIu64 "\n",
                answers, sent ? 100.0 * static_cast<double>(answers) / static_cast<double>(sent) : 0.0,
                answered_sources, median, most);
    std::printf("codes        401: %" PRIu64 ", 438: %" PRIu64 ", other: %" PRIu64 "\n", answer_codes[0], answer_codes[1],
                answer_codes[2]);
  }
  return 0;
}
