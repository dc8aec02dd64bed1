#include "relay_process.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "hush/auth/rest_credential.hpp"
#include "hush/net/udp_socket.hpp"
#include "hush/stun/channel_data.hpp"

extern char** environ;

namespace hush::test {

Process::Process(const std::string& program, const std::vector<std::string>& args) {
  char tmpl[] = "/tmp/hush-proc-XXXXXX";
  int fd = mkstemp(tmpl);
  if (fd < 0) throw std::runtime_error("mkstemp");
  log_path_ = tmpl;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fd, 1);
  posix_spawn_file_actions_adddup2(&fa, fd, 2);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(program.c_str()));
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  if (posix_spawnp(&pid_, program.c_str(), &fa, nullptr, argv.data(), environ) != 0) pid_ = -1;
  posix_spawn_file_actions_destroy(&fa);
  ::close(fd);
  if (pid_ < 0) throw std::runtime_error("cannot start " + program);
}

Process::~Process() {
  if (pid_ > 0 && running()) {
    ::kill(pid_, SIGINT);
    for (int i = 0; i < 50 && running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (running()) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  std::remove(log_path_.c_str());
}

bool Process::running() {
  if (status_ != -1) return false;
  int st = 0;
  pid_t r = ::waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return false;
  }
  return true;
}

int Process::stop(int sig) {
  if (running()) {
    ::kill(pid_, sig);
    if (auto st = wait_exit(std::chrono::seconds(5))) return *st;
    ::kill(pid_, SIGKILL);
    int st = 0;
    ::waitpid(pid_, &st, 0);
    status_ = 128 + SIGKILL;
  }
  return status_;
}

void Process::signal(int sig) {
  if (running()) ::kill(pid_, sig);
}

std::optional<int> Process::wait_exit(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (running()) {
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return status_;
}

std::string Process::output() const {
  std::ifstream in(log_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool Process::await_output(const std::string& text, std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (output().find(text) == std::string::npos) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

long Process::rss_kib() const {
  std::ifstream in("/proc/" + std::to_string(pid_) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

double Process::cpu_seconds() const {
  std::ifstream in("/proc/" + std::to_string(pid_) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto close = stat.rfind(')');  // the command name may hold spaces
  if (close == std::string::npos) return -1;
  std::istringstream fields(stat.substr(close + 2));
  std::string f;
  long ticks = 0;
  for (int i = 3; i <= 15 && fields >> f; ++i)
    if (i == 14 || i == 15) ticks += std::stol(f);  // utime, stime
  return static_cast<double>(ticks) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

CommandResult run_command(const std::string& command) {
  std::string out;
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) return {-1, ""};
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int st = ::pclose(p);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

namespace {
bool tcp_port_free(std::uint16_t p) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(p);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
  ::close(fd);
  return ok;
}
}  // namespace

std::uint16_t free_udp_port() {
  // Listening ports come from 20000-29999: below the kernel's ephemeral range (32768-60999),
  // which the tests' own sockets use, and the relay range the tests give (61000-64999).
  // The relay listens on TCP at the same port, so it must be free for both.
  static std::uint16_t next = static_cast<std::uint16_t>(20000 + (::getpid() % 500) * 20);
  for (int i = 0; i < 1000; ++i) {
    std::uint16_t p = next++;
    if (next >= 30000) next = 20000;
    auto fd = net::open_udp(Endpoint{*IpAddress::parse("127.0.0.1"), p}, {});
    if (!fd) continue;
    ::close(*fd);
    if (!tcp_port_free(p)) continue;
    return p;
  }
  throw std::runtime_error("no free UDP port");
}

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return sa;
}

std::uint16_t bound_port(int fd) {
  sockaddr_in sa{};
  socklen_t len = sizeof sa;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  return ntohs(sa.sin_port);
}

int listen_tcp_loopback(int backlog) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  const sockaddr_in sa = loopback(0);
  ::bind(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa);
  ::listen(fd, backlog);
  return fd;
}

std::uint16_t free_tcp_port() { return free_udp_port(); }  // free for both

TestCertificate make_test_certificate() {
  char dir[] = "/tmp/hush-cert-XXXXXX";
  if (mkdtemp(dir) == nullptr) throw std::runtime_error("mkdtemp");
  TestCertificate c{std::string(dir) + "/cert.pem", std::string(dir) + "/key.pem"};
  auto r = run_command("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
                       "-subj /CN=localhost -keyout " + c.key + " -out " + c.cert);
  if (r.exit_code != 0) throw std::runtime_error("openssl req failed: " + r.output);
  return c;
}

double metric(std::uint16_t port, const std::string& sample) {
  std::istringstream in(http_request(port, "/metrics").body);
  for (std::string line; std::getline(in, line);)
    if (line.rfind(sample + " ", 0) == 0) return std::atof(line.c_str() + sample.size() + 1);
  return -1;
}

HttpResponse http_request(std::uint16_t port, const std::string& path, const std::string& method,
                          const std::string& authorization) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    ::close(fd);
    return HttpResponse{0, ""};
  }
  std::string req = method + " " + path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n";
  if (!authorization.empty()) req += "Authorization: " + authorization + "\r\n";
  req += "\r\n";
  (void)!::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
  std::string raw;
  char buf[4096];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) raw.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  HttpResponse r{0, ""};
  if (raw.rfind("HTTP/1.1 ", 0) == 0) r.status = std::atoi(raw.c_str() + 9);
  if (auto at = raw.find("\r\n\r\n"); at != std::string::npos) r.body = raw.substr(at + 4);
  return r;
}

std::vector<std::string> with_metrics(std::uint16_t port, std::vector<std::string> more) {
  more.insert(more.begin(), {"--metrics", "127.0.0.1:" + std::to_string(port)});
  return more;
}

Relay::Relay(std::vector<std::string> extra, std::string listen_ip, std::vector<std::string> launcher) {
  port = free_udp_port();
  char tmpl[] = "/tmp/hush-secret-XXXXXX";
  int fd = mkstemp(tmpl);
  ::close(fd);
  secret_file = tmpl;
  std::ofstream(secret_file) << secret << "\n";
  const bool v6 = listen_ip.find(':') != std::string::npos;
  endpoint_ = *Endpoint::parse(v6 ? "[" + listen_ip + "]:" + std::to_string(port) : listen_ip + ":" + std::to_string(port));
  std::vector<std::string> args = {"--listen", endpoint_.to_string(), "--secret-file", secret_file,
                                   "--allow-peer", "127.0.0.0/8", "--allow-peer", "::1/128", "--log-level", "debug"};
  auto given = [&](const char* option) { return std::find(extra.begin(), extra.end(), option) != extra.end(); };
  if (!given("--threads")) args.insert(args.end(), {"--threads", "2"});
  if (!given("--relay-ports")) args.insert(args.end(), {"--relay-ports", "61000-64999"});
  args.insert(args.end(), extra.begin(), extra.end());
  if (launcher.empty()) {
    process_ = std::make_unique<Process>(HUSH_RELAY_BINARY, args);
  } else {
    std::vector<std::string> all(launcher.begin() + 1, launcher.end());
    all.push_back(HUSH_RELAY_BINARY);
    all.insert(all.end(), args.begin(), args.end());
    process_ = std::make_unique<Process>(launcher.front(), all);
  }
  // Ready when it answers a Binding request.
  UdpSocket probe(v6 ? "::1" : "127.0.0.1");
  if (await_binding(probe, endpoint_, nullptr, 100)) return;
  throw std::runtime_error("hush-relay did not start: " + process_->output());
}

bool kernel_fastpath_available(std::string* why) {
#ifndef HUSH_HAVE_BPF
  *why = "built without eBPF support (libbpf-dev, bpftool, clang)";
  return false;
#else
  if (::geteuid() != 0) {
    *why = "needs root to load eBPF programs";
    return false;
  }
  if (::access("/sys/kernel/btf/vmlinux", R_OK) != 0) {
    *why = "the kernel has no BTF (/sys/kernel/btf/vmlinux)";
    return false;
  }
  utsname u{};
  ::uname(&u);
  int major = 0, minor = 0;
  std::sscanf(u.release, "%d.%d", &major, &minor);
  if (major < 6 || (major == 6 && minor < 6)) {
    *why = std::string("tcx needs Linux 6.6 or later, this is ") + u.release;
    return false;
  }
  return true;
#endif
}

std::string Relay::credential_username(std::int64_t ttl) const {
  return std::to_string(std::time(nullptr) + ttl) + ":integration";
}

UdpSocket::UdpSocket(const std::string& bind_ip) {
  const bool v6 = bind_ip.find(':') != std::string::npos;
  auto fd = net::open_udp(Endpoint{*IpAddress::parse(bind_ip), 0}, {false, false, 1 << 20, 1 << 20});
  if (!fd) throw std::runtime_error(fd.error().message);
  fd_ = *fd;
  (void)v6;
}

UdpSocket::~UdpSocket() { ::close(fd_); }

void UdpSocket::send_to(const Endpoint& to, Bytes data) {
  sockaddr_storage sa;
  socklen_t len = net::to_sockaddr(to, sa);
  ::sendto(fd_, data.data(), data.size(), 0, reinterpret_cast<sockaddr*>(&sa), len);
}

std::optional<std::vector<std::byte>> UdpSocket::receive(std::chrono::milliseconds timeout, Endpoint* from) {
  pollfd p{fd_, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return std::nullopt;
  std::vector<std::byte> buf(65536);
  sockaddr_storage sa{};
  socklen_t len = sizeof sa;
  ssize_t n = ::recvfrom(fd_, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&sa), &len);
  if (n < 0) return std::nullopt;
  buf.resize(static_cast<std::size_t>(n));
  if (from != nullptr) *from = net::from_sockaddr(sa);
  return buf;
}

Endpoint UdpSocket::local() const { return net::local_endpoint(fd_); }

std::optional<std::vector<std::byte>> await_binding(UdpSocket& s, const Endpoint& server, Endpoint* from,
                                                    int tries) {
  for (int i = 0; i < tries; ++i) {
    s.send_to(server, build(stun::Method::binding, stun::Class::request, random_tid(), {}));
    if (auto answer = s.receive(std::chrono::milliseconds(50), from)) return answer;
  }
  return std::nullopt;
}

TurnClient::TurnClient(Endpoint server, std::string username, std::string password, std::string bind_ip)
    : server_(server), username_(std::move(username)), password_(std::move(password)), socket_(bind_ip) {}

std::optional<stun::MessageView> TurnClient::transact(stun::Method m,
                                                      const std::function<void(stun::MessageBuilder&)>& attrs,
                                                      bool authenticated) {
  for (int attempt = 0; attempt < 3; ++attempt) {
    LongTermAuth a{username_, realm_, nonce_, password_};
    const bool with_auth = authenticated && !nonce_.empty();
    auto tid = random_tid();
    auto req = build(m, stun::Class::request, tid, attrs, with_auth ? &a : nullptr);
    std::optional<std::vector<std::byte>> resp;
    for (int retry = 0; retry < 5 && !resp; ++retry) {
      socket_.send_to(server_, req);
      auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(300);
      while (std::chrono::steady_clock::now() < deadline) {
        auto r = socket_.receive(std::chrono::milliseconds(100));
        if (!r) continue;
        if (seen != nullptr) seen->push_back(*r);
        auto v = stun::MessageView::parse(*r);
        if (v && std::equal(tid.begin(), tid.end(), v->transaction_id_ptr())) {
          resp = std::move(r);
          break;
        }
      }
    }
    if (!resp) return std::nullopt;
    last_ = std::move(*resp);
    auto v = stun::MessageView::parse(last_);
    last_error_ = 0;
    if (auto e = v->find(stun::attr::error_code)) last_error_ = stun::decode_error_code(*e)->code;
    if (last_error_ == 438) ++stale_nonces_;
    if (auto alt = v->find(stun::attr::alternate_server)) alternate_ = stun::decode_plain_address(*alt);
    if (authenticated && (last_error_ == 401 || last_error_ == 438) && v->find_text(stun::attr::nonce)) {
      const bool had_nonce = !nonce_.empty();
      realm_ = std::string(*v->find_text(stun::attr::realm));
      nonce_ = std::string(*v->find_text(stun::attr::nonce));
      if (last_error_ == 401 && had_nonce) return *v;  // really unauthorized
      continue;
    }
    return *v;
  }
  return std::nullopt;
}

bool TurnClient::allocate(bool ipv6_relay) {
  auto r = transact(stun::Method::allocate, [&](stun::MessageBuilder& b) {
    udp_transport()(b);
    if (ipv6_relay) b.add_u32(stun::attr::requested_address_family, 0x02000000);
  });
  if (!r || last_error_ != 0) return false;
  relayed_ = *stun::decode_xor_address(*r->find(stun::attr::xor_relayed_address), r->transaction_id_ptr());
  return true;
}

bool TurnClient::create_permission(const Endpoint& peer) {
  auto r = transact(stun::Method::create_permission,
                    [&](stun::MessageBuilder& b) { b.add_xor_address(stun::attr::xor_peer_address, peer); });
  return r && last_error_ == 0;
}

bool TurnClient::bind_channel(std::uint16_t channel, const Endpoint& peer) {
  auto r = transact(stun::Method::channel_bind, [&](stun::MessageBuilder& b) {
    b.add_u32(stun::attr::channel_number, std::uint32_t{channel} << 16);
    b.add_xor_address(stun::attr::xor_peer_address, peer);
  });
  return r && last_error_ == 0;
}

void TurnClient::send_channel(std::uint16_t channel, std::string_view payload) {
  socket_.send_to(server_, channel_data(channel, payload));
}

std::vector<std::byte> TurnClient::indication(const Endpoint& peer, std::string_view payload) const {
  return build(stun::Method::send, stun::Class::indication, random_tid(), [&](stun::MessageBuilder& b) {
    b.add_xor_address(stun::attr::xor_peer_address, peer);
    b.add(stun::attr::data, as_bytes(payload));
  });
}

void TurnClient::send_indication(const Endpoint& peer, std::string_view payload) {
  socket_.send_to(server_, indication(peer, payload));
}

LiveCall::LiveCall(Relay& relay, const Endpoint* server)
    : client(server != nullptr ? *server : relay.endpoint(), relay.credential_username(),
             auth::rest_password(relay.secret, relay.credential_username())) {
  if (client.allocate()) client.bind_channel(0x4000, peer.local());
}

bool LiveCall::works() {
  client.send_channel(0x4000, "to-peer");
  Endpoint from;
  auto at_peer = peer.receive(std::chrono::seconds(2), &from);
  if (!at_peer || as_text(*at_peer) != "to-peer" || from != client.relayed()) return false;
  peer.send_to(client.relayed(), as_bytes("to-client"));
  auto back = client.socket().receive(std::chrono::seconds(2));
  if (!back) return false;
  auto cd = stun::parse_channel_data(*back);
  return cd && as_text(cd->payload) == "to-client";
}

}  // namespace hush::test

bool net_port_free(std::uint16_t port) {
  auto fd = hush::net::open_udp(hush::Endpoint{*hush::IpAddress::parse("127.0.0.1"), port}, {});
  if (!fd) return false;
  ::close(*fd);
  return true;
}
