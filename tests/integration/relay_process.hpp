// Runs the real hush-relay (and other programs) for integration tests, and a small UDP TURN
// client over real sockets.
#pragma once

#include <netinet/in.h>
#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "../support/stun_messages.hpp"

namespace hush::test {

// A child process; stopped (SIGINT, then SIGKILL) when destroyed. hush-relay stops at once on
// SIGINT; SIGTERM would drain first.
class Process {
 public:
  Process(const std::string& program, const std::vector<std::string>& args);
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  pid_t pid() const { return pid_; }
  bool running();
  int stop(int sig = SIGINT);  // signal, wait up to 5 s (then SIGKILL); returns the exit status
  void signal(int sig);
  // Waits up to `timeout` for the process to exit; its status, or nullopt if still running.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);
  std::string output() const;  // stdout and stderr so far
  // Waits up to `timeout` for `text` to appear in the output. A relay answers on its sockets
  // as soon as its workers run, which can be before it has printed what follows "started".
  bool await_output(const std::string& text, std::chrono::milliseconds timeout = std::chrono::seconds(3)) const;
  long rss_kib() const;
  double cpu_seconds() const;  // user and system time so far (/proc/PID/stat)

 private:
  pid_t pid_ = -1;
  std::string log_path_;
  int status_ = -1;
};

struct CommandResult {
  int exit_code;
  std::string output;
};
CommandResult run_command(const std::string& command);  // through /bin/sh, stdout+stderr

// A port for this test run that nothing else uses (by binding it).
std::uint16_t free_udp_port();

std::uint16_t free_tcp_port();

// 127.0.0.1:port as a sockaddr, and the port a socket is bound to (for taps and bridges).
sockaddr_in loopback(std::uint16_t port);
std::uint16_t bound_port(int fd);
// A TCP socket listening on 127.0.0.1 at a port the kernel picks (read it with bound_port).
int listen_tcp_loopback(int backlog);

// A self-signed EC certificate and key in a temporary directory (openssl req).
struct TestCertificate {
  std::string cert;
  std::string key;
};
TestCertificate make_test_certificate();

struct HttpResponse {
  int status;  // 0: no connection or no HTTP answer
  std::string body;
};
// One HTTP/1.1 request to 127.0.0.1:port.
HttpResponse http_request(std::uint16_t port, const std::string& path, const std::string& method = "GET",
                          const std::string& authorization = "");
// `more` relay arguments after --metrics 127.0.0.1:port.
std::vector<std::string> with_metrics(std::uint16_t port, std::vector<std::string> more = {});
// The value of one sample (name with its labels, as exposed) from /metrics; -1 if absent.
double metric(std::uint16_t port, const std::string& sample);

// hush-relay on 127.0.0.1:port with a secret file and loopback peers allowed. `launcher`, if
// given, runs it (e.g. {"/usr/bin/prlimit", "--nofile=128:128"}).
class Relay {
 public:
  explicit Relay(std::vector<std::string> extra_args = {}, std::string listen_ip = "127.0.0.1",
                 std::vector<std::string> launcher = {});
  std::uint16_t port = 0;
  std::string secret = "integration-secret";
  std::string secret_file;
  Endpoint endpoint() const { return endpoint_; }
  Process& process() { return *process_; }
  std::string credential_username(std::int64_t ttl = 600) const;

 private:
  Endpoint endpoint_;
  std::unique_ptr<Process> process_;
};

class UdpSocket {
 public:
  explicit UdpSocket(const std::string& bind_ip = "127.0.0.1");
  ~UdpSocket();
  UdpSocket(const UdpSocket&) = delete;
  UdpSocket& operator=(const UdpSocket&) = delete;
  void send_to(const Endpoint& to, Bytes data);
  // Waits up to `timeout`; nullopt on timeout.
  std::optional<std::vector<std::byte>> receive(std::chrono::milliseconds timeout, Endpoint* from = nullptr);
  Endpoint local() const;
  int fd() const { return fd_; }

 private:
  int fd_;
};

// Sends Binding requests every 50 ms until one is answered (a server may still be starting);
// the answer and where it came from, or nullopt after `tries`.
std::optional<std::vector<std::byte>> await_binding(UdpSocket& s, const Endpoint& server, Endpoint* from = nullptr,
                                                    int tries = 50);

// A TURN client over UDP that does the 401 round, permissions and channels.
class TurnClient {
 public:
  TurnClient(Endpoint server, std::string username, std::string password, std::string bind_ip = "127.0.0.1");
  std::optional<stun::MessageView> transact(stun::Method m, const std::function<void(stun::MessageBuilder&)>& attrs,
                                            bool authenticated = true);
  bool allocate(bool ipv6_relay = false);  // REQUESTED-ADDRESS-FAMILY IPv6 when asked
  bool create_permission(const Endpoint& peer);
  bool bind_channel(std::uint16_t channel, const Endpoint& peer);
  int last_error() const { return last_error_; }
  // ALTERNATE-SERVER of the last 300 answer.
  std::optional<Endpoint> alternate() const { return alternate_; }
  // Follows the last 300 as libwebrtc does: same socket, realm and nonce, to the alternate.
  void follow_alternate() { server_ = *alternate_; }
  // 438 Stale Nonce answers received (transact() retries with the new nonce).
  int stale_nonces() const { return stale_nonces_; }
  Endpoint relayed() const { return relayed_; }
  UdpSocket& socket() { return socket_; }
  void send_channel(std::uint16_t channel, std::string_view payload);
  void send_indication(const Endpoint& peer, std::string_view payload);
  std::vector<std::byte> indication(const Endpoint& peer, std::string_view payload) const;  // a Send indication
  // When set, every datagram transact() receives is appended here, in arrival order.
  std::vector<std::vector<std::byte>>* seen = nullptr;

 private:
  Endpoint server_;
  std::string username_;
  std::string password_;
  std::string realm_;
  std::string nonce_;
  UdpSocket socket_;
  std::vector<std::byte> last_;
  Endpoint relayed_;
  int last_error_ = 0;
  int stale_nonces_ = 0;
  std::optional<Endpoint> alternate_;
};

// Whether --kernel-fastpath can load here (root, a build with eBPF, BTF, Linux 6.6+); if not,
// why, for the skip message.
bool kernel_fastpath_available(std::string* why);

// coturn's turnutils_peer echoing on `ip` (127.0.0.1 or ::1), far from `near` (uclient 4.6.1
// trips over adjacent ports); its port in `port`.
std::unique_ptr<Process> start_echo_peer(std::uint16_t near, std::uint16_t& port, const std::string& ip = "127.0.0.1");
// Runs turnutils_uclient (10 clients x 100 messages of 120 bytes to an echo peer on `peer_ip`)
// with the extra flags against `server_port`, checks that every message came back; returns its
// output.
std::string expect_every_message_relayed(Relay& relay, std::uint16_t server_port, const std::string& flags,
                                         const std::string& peer_ip = "127.0.0.1");

// An allocation with a channel to a local peer socket that does not echo; works() checks
// traffic both ways.
struct LiveCall {
  UdpSocket peer;
  TurnClient client;
  explicit LiveCall(Relay& relay, const Endpoint* server = nullptr);
  bool works();
};

}  // namespace hush::test
