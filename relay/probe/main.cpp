// hush-probe: checks a TURN relay the way clients use it and prints what works.
//
//   hush-probe --server HOST --port 3478 [--tls-port 5349] --secret-file FILE
//   hush-probe --server HOST --port 3478 --username U --password P
//
// Checks: STUN Binding (libnice's STUN usage), a TURN allocation over UDP and over TCP
// (libnice agents gathering a relayed candidate), over TLS and DTLS on --tls-port (OpenSSL with
// ALPN stun.turn, as libnice 0.1.21 speaks neither to a TURN server), and a relayed round trip between
// two local libnice agents that may use nothing but relayed candidates. Exits 0 when
// everything passed, 1 otherwise, 2 on a bad option.
#include <arpa/inet.h>
#include <netdb.h>
#include <nice/agent.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <stun/usages/bind.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <future>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "hush/auth/rest_credential.hpp"
#include "hush/auth/secret_set.hpp"
#include "hush/stun/builder.hpp"
#include "hush/stun/constants.hpp"
#include "hush/stun/integrity.hpp"
#include "hush/stun/message.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

struct Options {
  std::string server;
  std::uint16_t port = 3478;
  std::uint16_t tls_port = 0;
  std::string username, password, secret_file;
  int timeout = 10;
};

struct Row {
  std::string check;
  bool ok;
  double ms;
  std::string detail;
};

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

std::optional<sockaddr_storage> resolve(const std::string& host, std::uint16_t port, socklen_t& len) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res) != 0 || res == nullptr) return std::nullopt;
  sockaddr_storage out{};
  std::memcpy(&out, res->ai_addr, res->ai_addrlen);
  len = res->ai_addrlen;
  freeaddrinfo(res);
  return out;
}

std::string numeric(const sockaddr_storage& sa) {
  char host[INET6_ADDRSTRLEN] = {};
  char serv[8] = {};
  getnameinfo(reinterpret_cast<const sockaddr*>(&sa), sizeof sa, host, sizeof host, serv, sizeof serv,
              NI_NUMERICHOST | NI_NUMERICSERV);
  return std::string(host) + ":" + serv;
}

Row binding(const Options& o) {
  const auto start = Clock::now();
  socklen_t len = 0;
  auto srv = resolve(o.server, o.port, len);
  if (!srv) return {"STUN binding (UDP)", false, 0, "cannot resolve " + o.server};
  auto result = std::async(std::launch::async, [srv, len] {
    sockaddr_storage mapped{};
    socklen_t mapped_len = sizeof mapped;
    auto r = stun_usage_bind_run(reinterpret_cast<const sockaddr*>(&*srv), len, &mapped, &mapped_len);
    return std::make_pair(r, mapped);
  });
  if (result.wait_for(std::chrono::seconds(o.timeout)) != std::future_status::ready) {
    std::thread([r = std::move(result)]() mutable { r.wait(); }).detach();
    return {"STUN binding (UDP)", false, ms_since(start), "no answer"};
  }
  auto [r, mapped] = result.get();
  if (r != STUN_USAGE_BIND_RETURN_SUCCESS) return {"STUN binding (UDP)", false, ms_since(start), "error answer"};
  return {"STUN binding (UDP)", true, ms_since(start), "mapped address " + numeric(mapped)};
}

// ---- libnice agents ------------------------------------------------------------------------

struct Agent {
  NiceAgent* agent = nullptr;
  guint stream = 0;
  bool gathered = false;
  guint state = NICE_COMPONENT_STATE_DISCONNECTED;
  std::vector<Clock::time_point> echoes;  // when each reply arrived
};

class Loop {
 public:
  Loop() : ctx_(g_main_context_new()) {}
  ~Loop() { g_main_context_unref(ctx_); }
  GMainContext* ctx() const { return ctx_; }
  template <class Done>
  bool until(Done done, std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (!done()) {
      if (Clock::now() > deadline) return false;
      if (!g_main_context_iteration(ctx_, FALSE)) std::this_thread::sleep_for(1ms);
    }
    return true;
  }

 private:
  GMainContext* ctx_;
};

void agent_setup(Agent& a, Loop& loop, const Options& o, const std::string& server_ip, NiceRelayType type,
                 bool controlling, NiceAgentRecvFunc recv) {
  a.agent = nice_agent_new(loop.ctx(), NICE_COMPATIBILITY_RFC5245);
  g_object_set(a.agent, "force-relay", TRUE, "controlling-mode", controlling, "ice-tcp", FALSE, nullptr);
  if (server_ip.rfind("127.", 0) == 0 || server_ip == "::1") {
    NiceAddress local;  // a relay on this host: libnice ignores loopback unless told
    nice_address_init(&local);
    nice_address_set_from_string(&local, server_ip == "::1" ? "::1" : "127.0.0.1");
    nice_agent_add_local_address(a.agent, &local);
  }
  a.stream = nice_agent_add_stream(a.agent, 1);
  nice_agent_set_relay_info(a.agent, a.stream, 1, server_ip.c_str(), o.port, o.username.c_str(), o.password.c_str(), type);
  g_signal_connect(a.agent, "candidate-gathering-done", G_CALLBACK(+[](NiceAgent*, guint, gpointer d) {
                     static_cast<Agent*>(d)->gathered = true;
                   }), &a);
  g_signal_connect(a.agent, "component-state-changed", G_CALLBACK(+[](NiceAgent*, guint, guint, guint s, gpointer d) {
                     static_cast<Agent*>(d)->state = s;
                   }), &a);
  nice_agent_attach_recv(a.agent, a.stream, 1, loop.ctx(), recv, &a);
  nice_agent_gather_candidates(a.agent, a.stream);
}

void agent_teardown(Agent& a, Loop& loop) {
  if (!a.agent) return;
  // Deletes the allocations on the relay (Refresh with lifetime 0) before letting go.
  bool closed = false;
  nice_agent_close_async(a.agent, +[](GObject*, GAsyncResult*, gpointer d) { *static_cast<bool*>(d) = true; }, &closed);
  loop.until([&] { return closed; }, 2000ms);
  nice_agent_remove_stream(a.agent, a.stream);
  g_object_unref(a.agent);
  while (g_main_context_iteration(loop.ctx(), FALSE)) {
  }
}

std::optional<std::string> relayed_candidate(Agent& a) {
  std::optional<std::string> out;
  GSList* all = nice_agent_get_local_candidates(a.agent, a.stream, 1);
  for (GSList* i = all; i; i = i->next) {
    auto* c = static_cast<NiceCandidate*>(i->data);
    if (c->type == NICE_CANDIDATE_TYPE_RELAYED && !out) {
      char ip[NICE_ADDRESS_STRING_LEN];
      nice_address_to_string(&c->addr, ip);
      out = std::string(ip) + ":" + std::to_string(nice_address_get_port(&c->addr));
    }
  }
  g_slist_free_full(all, reinterpret_cast<GDestroyNotify>(nice_candidate_free));
  return out;
}

Row allocation(const Options& o, const std::string& server_ip, NiceRelayType type, const char* name) {
  Loop loop;
  Agent a;
  const auto start = Clock::now();
  agent_setup(a, loop, o, server_ip, type, true, [](NiceAgent*, guint, guint, guint, gchar*, gpointer) {});
  const bool gathered = loop.until([&] { return a.gathered; }, std::chrono::seconds(o.timeout));
  auto relayed = gathered ? relayed_candidate(a) : std::nullopt;
  const double ms = ms_since(start);
  agent_teardown(a, loop);
  if (!relayed) return {name, false, ms, gathered ? "no relayed candidate (refused or unreachable)" : "timeout"};
  return {name, true, ms, "relayed address " + *relayed};
}

void on_echo(NiceAgent* agent, guint stream, guint component, guint len, gchar* buf, gpointer data) {
  auto* a = static_cast<Agent*>(data);
  if (len >= 1 && buf[0] == 'q') {  // a question: answer it
    buf[0] = 'a';
    nice_agent_send(agent, stream, component, len, buf);
  } else if (len >= 1 && buf[0] == 'a') {
    a->echoes.push_back(Clock::now());
  }
}

Row round_trip(const Options& o, const std::string& server_ip) {
  const char* name = "relayed round trip (UDP)";
  Loop loop;
  Agent a, b;
  const auto start = Clock::now();
  agent_setup(a, loop, o, server_ip, NICE_RELAY_TYPE_TURN_UDP, true, on_echo);
  agent_setup(b, loop, o, server_ip, NICE_RELAY_TYPE_TURN_UDP, false, on_echo);
  Row row{name, false, 0, ""};
  auto finish = [&](std::string detail) {
    row.ms = ms_since(start);
    row.detail = std::move(detail);
    agent_teardown(a, loop);
    agent_teardown(b, loop);
    return row;
  };
  if (!loop.until([&] { return a.gathered && b.gathered; }, std::chrono::seconds(o.timeout))) return finish("timeout gathering");
  for (auto [from, to] : {std::pair{&a, &b}, std::pair{&b, &a}}) {
    gchar *ufrag = nullptr, *pwd = nullptr;
    nice_agent_get_local_credentials(from->agent, from->stream, &ufrag, &pwd);
    nice_agent_set_remote_credentials(to->agent, to->stream, ufrag, pwd);
    g_free(ufrag);
    g_free(pwd);
    GSList* all = nice_agent_get_local_candidates(from->agent, from->stream, 1);
    GSList* relayed = nullptr;
    for (GSList* i = all; i; i = i->next)
      if (static_cast<NiceCandidate*>(i->data)->type == NICE_CANDIDATE_TYPE_RELAYED) relayed = g_slist_append(relayed, i->data);
    if (relayed == nullptr) {
      g_slist_free_full(all, reinterpret_cast<GDestroyNotify>(nice_candidate_free));
      return finish("no relayed candidate");
    }
    nice_agent_set_remote_candidates(to->agent, to->stream, 1, relayed);
    g_slist_free(relayed);
    g_slist_free_full(all, reinterpret_cast<GDestroyNotify>(nice_candidate_free));
  }
  if (!loop.until([&] { return a.state == NICE_COMPONENT_STATE_READY && b.state == NICE_COMPONENT_STATE_READY; },
                  std::chrono::seconds(o.timeout)))
    return finish("ICE did not connect through the relay");
  std::vector<double> rtts;
  char msg[100];
  std::memset(msg, 'x', sizeof msg);
  msg[0] = 'q';
  for (int i = 0; i < 20; ++i) {
    const auto sent = Clock::now();
    const std::size_t before = a.echoes.size();
    nice_agent_send(a.agent, a.stream, 1, sizeof msg, msg);
    if (loop.until([&] { return a.echoes.size() > before; }, 1000ms))
      rtts.push_back(std::chrono::duration<double, std::milli>(a.echoes.back() - sent).count());
  }
  if (rtts.size() < 20) return finish(std::to_string(20 - rtts.size()) + " of 20 messages lost");
  std::sort(rtts.begin(), rtts.end());
  row.ok = true;
  char detail[96];
  std::snprintf(detail, sizeof detail, "20/20 echoed, median RTT %.2f ms, max %.2f ms", rtts[10], rtts.back());
  return finish(detail);
}

// ---- TURN over TLS and DTLS with OpenSSL ---------------------------------------------------

Row tls_allocation(const Options& o, bool dtls) {
  const char* name = dtls ? "TURN allocation (DTLS)" : "TURN allocation (TLS)";
  const auto start = Clock::now();
  socklen_t len = 0;
  auto srv = resolve(o.server, o.tls_port, len);
  if (!srv) return {name, false, 0, "cannot resolve " + o.server};
  const int fd = ::socket(srv->ss_family, dtls ? SOCK_DGRAM : SOCK_STREAM, 0);
  timeval tv{o.timeout, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&*srv), len) != 0) {
    ::close(fd);
    return {name, false, ms_since(start), "cannot connect"};
  }
  SSL_CTX* ctx = SSL_CTX_new(dtls ? DTLS_client_method() : TLS_client_method());
  SSL_CTX_set_min_proto_version(ctx, dtls ? DTLS1_2_VERSION : TLS1_2_VERSION);
  static const unsigned char kAlpn[] = {9, 's', 't', 'u', 'n', '.', 't', 'u', 'r', 'n'};
  SSL_CTX_set_alpn_protos(ctx, kAlpn, sizeof kAlpn);
  SSL* ssl = SSL_new(ctx);
  if (dtls) {
    BIO* bio = BIO_new_dgram(fd, BIO_NOCLOSE);
    BIO_ctrl(bio, BIO_CTRL_DGRAM_SET_CONNECTED, 0, &*srv);
    SSL_set_bio(ssl, bio, bio);
  } else {
    SSL_set_fd(ssl, fd);
  }
  SSL_set_tlsext_host_name(ssl, o.server.c_str());
  Row row{name, false, 0, ""};
  auto done = [&](bool ok, std::string detail) {
    row.ok = ok;
    row.ms = ms_since(start);
    row.detail = std::move(detail);
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    ::close(fd);
    return row;
  };
  // DTLS retransmits its flights on its own timer until the check's time is up.
  const auto deadline = start + std::chrono::seconds(o.timeout);
  int connected = SSL_connect(ssl);
  while (dtls && connected != 1 && SSL_get_error(ssl, connected) == SSL_ERROR_WANT_READ && Clock::now() < deadline) {
    DTLSv1_handle_timeout(ssl);
    connected = SSL_connect(ssl);
  }
  if (connected != 1) return done(false, dtls ? "DTLS handshake failed" : "TLS handshake failed");
  const unsigned char* alpn = nullptr;
  unsigned alpn_len = 0;
  SSL_get0_alpn_selected(ssl, &alpn, &alpn_len);
  const std::string tls_info = std::string(SSL_get_version(ssl)) +
                               (alpn_len ? ", ALPN " + std::string(reinterpret_cast<const char*>(alpn), alpn_len) : "");
  auto transact = [&](const std::function<void(hush::stun::MessageBuilder&)>& fill) -> std::optional<std::vector<std::byte>> {
    std::vector<std::byte> buf(1024);
    hush::stun::TransactionId tid;
    RAND_bytes(reinterpret_cast<unsigned char*>(tid.data()), static_cast<int>(tid.size()));
    hush::stun::MessageBuilder b(buf, hush::stun::Method::allocate, hush::stun::Class::request, tid.data());
    fill(b);
    auto m = b.finish();
    if (!m || SSL_write(ssl, m->data(), static_cast<int>(m->size())) <= 0) return std::nullopt;
    if (dtls) {  // one record, one message
      std::vector<std::byte> in(65536);
      const int n = SSL_read(ssl, in.data(), static_cast<int>(in.size()));
      if (n < 20) return std::nullopt;
      in.resize(static_cast<std::size_t>(n));
      return in;
    }
    std::vector<std::byte> in(20);
    if (SSL_read(ssl, in.data(), 20) != 20) return std::nullopt;
    const std::size_t body = (std::to_integer<std::size_t>(in[2]) << 8) | std::to_integer<std::size_t>(in[3]);
    in.resize(20 + body);
    for (std::size_t got = 0; got < body;) {
      const int r = SSL_read(ssl, in.data() + 20 + got, static_cast<int>(body - got));
      if (r <= 0) return std::nullopt;
      got += static_cast<std::size_t>(r);
    }
    return in;
  };
  auto udp = [](hush::stun::MessageBuilder& b) {
    b.add_u32(hush::stun::attr::requested_transport, std::uint32_t{17} << 24);
  };
  auto first = transact(udp);
  if (!first) return done(false, tls_info + "; no answer to Allocate");
  auto challenge = hush::stun::MessageView::parse(*first);
  if (!challenge || !challenge->find_text(hush::stun::attr::nonce)) return done(false, tls_info + "; no 401 challenge");
  const std::string realm(*challenge->find_text(hush::stun::attr::realm));
  const std::string nonce(*challenge->find_text(hush::stun::attr::nonce));
  const auto key = hush::stun::long_term_key(o.username, realm, o.password);
  auto second = transact([&](hush::stun::MessageBuilder& b) {
    udp(b);
    b.add_text(hush::stun::attr::username, o.username);
    b.add_text(hush::stun::attr::realm, realm);
    b.add_text(hush::stun::attr::nonce, nonce);
    b.add_integrity(key);
  });
  if (!second) return done(false, tls_info + "; no answer to the authenticated Allocate");
  auto answer = hush::stun::MessageView::parse(*second);
  if (!answer) return done(false, tls_info + "; unreadable answer");
  if (auto e = answer->find(hush::stun::attr::error_code))
    return done(false, tls_info + "; error " + std::to_string(hush::stun::decode_error_code(*e)->code));
  auto relayed = answer->find(hush::stun::attr::xor_relayed_address);
  if (!relayed) return done(false, tls_info + "; no relayed address");
  auto ep = hush::stun::decode_xor_address(*relayed, answer->transaction_id_ptr());
  return done(true, tls_info + ", relayed address " + (ep ? ep->to_string() : "?"));
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"hush-probe: check a TURN relay over every transport and print what works", "hush-probe"};
  app.add_option("--server", o.server, "Relay host name or address")->required();
  app.add_option("--port", o.port, "UDP and TCP port")->capture_default_str();
  app.add_option("--tls-port", o.tls_port, "TLS (TCP) and DTLS (UDP) port (default: no TLS or DTLS check)");
  app.add_option("--secret-file", o.secret_file, "REST shared secret file: a credential is minted from its first line");
  app.add_option("--username", o.username, "TURN username (instead of --secret-file)");
  app.add_option("--password", o.password, "TURN password");
  app.add_option("--timeout", o.timeout, "Seconds per check")->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (!o.secret_file.empty()) {
    auto secrets = hush::auth::SecretSet::load_file(o.secret_file);
    if (!secrets) {
      std::cerr << "hush-probe: --secret-file: " << secrets.error() << "\n";
      return 2;
    }
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch());
    auto c = hush::auth::mint_credential(*secrets, now.count(), 600);
    o.username = c.username;
    o.password = c.password;
  } else if (o.username.empty() || o.password.empty()) {
    std::cerr << "hush-probe: --secret-file, or --username and --password, are required\n";
    return 2;
  }
  socklen_t len = 0;
  auto srv = resolve(o.server, o.port, len);
  if (!srv) {
    std::cerr << "hush-probe: --server: cannot resolve " << o.server << "\n";
    return 2;
  }
  std::string server_ip = numeric(*srv);
  server_ip = server_ip.substr(0, server_ip.rfind(':'));

  std::vector<Row> rows;
  rows.push_back(binding(o));
  rows.push_back(allocation(o, server_ip, NICE_RELAY_TYPE_TURN_UDP, "TURN allocation (UDP)"));
  rows.push_back(allocation(o, server_ip, NICE_RELAY_TYPE_TURN_TCP, "TURN allocation (TCP)"));
  if (o.tls_port != 0) {
    rows.push_back(tls_allocation(o, false));
    rows.push_back(tls_allocation(o, true));
  }
  rows.push_back(round_trip(o, server_ip));

  bool all_ok = true;
  std::printf("%-28s %-6s %10s  %s\n", "check", "result", "time ms", "detail");
  for (const auto& r : rows) {
    std::printf("%-28s %-6s %10.1f  %s\n", r.check.c_str(), r.ok ? "ok" : "FAIL", r.ms, r.detail.c_str());
    all_ok &= r.ok;
  }
  return all_ok ? 0 : 1;
}
