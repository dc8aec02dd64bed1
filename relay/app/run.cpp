// Starts the workers and the metrics endpoint, then waits for signals: SIGHUP reloads the
// configuration and secrets, SIGTERM drains (a second one stops at once), SIGINT stops.
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <iostream>
#include <memory>
#include <sstream>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "app.hpp"
#include "hush/api/credential_api.hpp"
#include "hush/auth/authenticator.hpp"
#include "hush/base/log.hpp"
#include "hush/fastpath/kernel_path.hpp"
#include "hush/metrics/exposition.hpp"
#include "hush/metrics/endpoints.hpp"
#include "hush/net/http_server.hpp"
#include "hush/net/host_addresses.hpp"
#include "hush/net/worker.hpp"

namespace hush::app {
namespace {

constexpr auto kStatsTimeout = std::chrono::milliseconds(1000);

policy::PeerPolicyConfig peer_policy_config(const config::Config& c) {
  policy::PeerPolicyConfig p;
  p.allow = c.allow_peer;
  p.deny = c.deny_peer;
  p.relayed_only = c.relay_to_relay_only;
  p.peer_relays = c.peer_relay;
  for (const auto& a : {c.relay_v4, c.relay_v6, c.external_v4, c.external_v6})
    if (a) p.relayed_addresses.push_back(*a);
  p.host_addresses = net::host_addresses();
  auto service = [&](const Endpoint& ep) {
    p.host_addresses.push_back(ep.ip);
    p.service_ports.push_back(ep.port);
  };
  for (const auto& ep : c.listen) service(ep);
  for (const auto& ep : c.tls_listen) service(ep);  // DTLS shares TLS's port over UDP
  if (c.metrics) service(*c.metrics);
  if (c.api) service(*c.api);
  p.relay_port_min = c.relay_port_min;
  p.relay_port_max = c.relay_port_max;
  return p;
}

std::shared_ptr<const turn::Snapshot> make_snapshot(const config::Config& c, auth::SecretSet secrets,
                                                    auth::UserTable users,
                                                    std::shared_ptr<const auth::NonceIssuer> nonces,
                                                    const policy::RelayPortRegistry& live) {
  return std::make_shared<const turn::Snapshot>(turn::Snapshot{
      auth::Authenticator(c.realm, std::move(secrets), std::move(nonces), std::move(users)),
      policy::PeerPolicy(peer_policy_config(c), &live)});
}

net::StreamOptions stream_options(const config::Config& c) {
  net::StreamOptions o;
  o.handshake_timeout = std::chrono::seconds(c.stream_handshake_timeout);
  o.idle_timeout = std::chrono::seconds(c.stream_idle_timeout);
  o.send_buffer = c.stream_send_buffer;
  o.padding.mode = c.padding_mode == 1 ? net::Padding::Mode::block
                   : c.padding_mode == 2 ? net::Padding::Mode::fixed
                                         : net::Padding::Mode::off;
  o.padding.size = c.padding_size;
  return o;
}

// The TLS and DTLS contexts for --cert and --key; with padding on, TLS 1.3 only.
Result<std::pair<std::shared_ptr<boost::asio::ssl::context>, net::DtlsContext>, std::string> load_tls(
    const config::Config& c) {
  auto tls = net::make_tls_context(c.cert_file, c.key_file, c.padding_mode != 0);
  if (!tls) return err(tls.error());
  auto dtls = net::make_dtls_context(c.cert_file, c.key_file);
  if (!dtls) return err(dtls.error());
  return std::pair{std::move(*tls), std::move(*dtls)};
}

turn::QuotaLimits quota_limits(const config::Config& c) {
  return turn::QuotaLimits{c.max_allocations, c.user_quota, c.source_quota};
}

// The URIs the credential API lists: --api-uri, else one per listen address, with the
// external address in place of the bound one behind NAT.
std::vector<std::string> api_uris(const config::Config& c, const std::vector<Endpoint>& listen) {
  if (!c.api_uris.empty()) return c.api_uris;
  auto reported = [&c](std::vector<Endpoint> eps) {
    for (auto& ep : eps) {
      const auto& external = ep.ip.is_v4() ? c.external_v4 : c.external_v6;
      if (external) ep.ip = *external;
    }
    return eps;
  };
  return config::turn_uris(reported(listen), reported(c.tls_listen));
}

api::ApiOptions api_options(const config::Config& c, const std::vector<Endpoint>& listen) {
  api::ApiOptions o;
  o.default_ttl = c.api_ttl;
  o.max_ttl = c.api_max_ttl;
  o.key_rate = c.api_rate;
  o.key_burst = 5 * c.api_rate;
  o.uris = api_uris(c, listen);
  return o;
}

std::int64_t mono_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Everything run() shares with the metrics thread.
struct State {
  std::unique_ptr<fastpath::BpfKernelPath> kernel;  // before the workers: they use it until destroyed
  std::vector<std::unique_ptr<net::Worker>> workers;
  turn::Quotas quotas;
  std::atomic<bool> draining{false};
  std::atomic<std::uint64_t> reloads{0};
  std::atomic<std::uint64_t> reload_failures{0};
  std::atomic<std::size_t> max_allocations{0};
  std::array<std::atomic<std::uint64_t>, 600> api_responses{};  // by HTTP status

  std::string metrics_text() {
    metrics::RelaySample s;
    s.version = kVersion;
    s.draining = draining.load();
    s.max_allocations = static_cast<double>(max_allocations.load());
    s.reloads = static_cast<double>(reloads.load());
    s.reload_failures = static_cast<double>(reload_failures.load());
    if (kernel) {
      const fastpath::Totals t = kernel->totals();
      s.kernel = metrics::KernelPathSample{true,    t.to_peer_packets, t.to_peer_bytes, t.to_client_packets,
                                           t.to_client_bytes, t.flows, t.install_failures};
    }
    for (std::size_t code = 0; code < api_responses.size(); ++code)
      if (auto n = api_responses[code].load()) s.api_responses.emplace_back(static_cast<int>(code), static_cast<double>(n));
    for (auto& w : workers) {
      auto st = w->stats(kStatsTimeout);
      metrics::WorkerSample ws;
      if (st) {
        ws = metrics::WorkerSample{st->counters, st->gauges, st->cpu_seconds, {}};
        ws.counters.padding_bytes += st->streams.padding_bytes;
        ws.gso_messages = st->gso_messages;
        ws.gso_segments = st->gso_segments;
        ws.streams = metrics::StreamSample{st->streams.accepted,         st->streams.refused,
                                           st->streams.closed_idle,      st->streams.closed_malformed,
                                           st->streams.handshake_failures, st->streams.slow_reader_drops,
                                           st->connections,
                                           st->streams.spliced,         st->streams.spliced_to_peer_bytes,
                                           st->streams.spliced_to_client_bytes};
      }
      s.workers.push_back(ws);
    }
    return metrics::serialize(metrics::families(s));
  }
  bool alive() {
    for (auto& w : workers)
      if (!w->stats(kStatsTimeout)) return false;
    return true;
  }
  bool ready() { return !draining.load() && !quotas.full(); }
};

// --users-file, keyed for the realm; none when the option is not given.
Result<auth::UserTable, std::string> load_users(const config::Config& c) {
  if (c.users_file.empty()) return auth::UserTable{};
  return auth::UserTable::load_file(c.users_file, c.realm);
}

}  // namespace

int check_config(const config::Config& c) {
  if (auto users = load_users(c); !users) {
    std::cerr << "hush-relay: --users-file: " << users.error() << "\n";
    return 2;
  }
  if (!c.secret_file.empty()) {
    auto loaded = auth::SecretSet::load_file(c.secret_file);
    if (!loaded) {
      std::cerr << "hush-relay: --secret-file: " << loaded.error() << "\n";
      return 2;
    }
  }
  if (!c.api_key_file.empty()) {
    auto keys = auth::SecretSet::load_file(c.api_key_file);
    if (!keys) {
      std::cerr << "hush-relay: --api-key-file: " << keys.error() << "\n";
      return 2;
    }
  }
  std::cout << "hush-relay: configuration OK\n";
  return 0;
}

int run(const config::Config& initial, int argc, const char* const* argv) {
  config::Config c = initial;
  log::set_level(c.log_level);
  log::set_format(c.log_format);
  // Every allocation holds a socket: use all the descriptors the hard limit allows.
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &files);
  }
  auth::SecretSet secrets;
  const bool generated = c.secret_file.empty();
  if (generated) {
    secrets = auth::SecretSet::generate();
  } else {
    auto loaded = auth::SecretSet::load_file(c.secret_file);
    if (!loaded) {
      std::cerr << "hush-relay: --secret-file: " << loaded.error() << "\n";
      return 2;
    }
    secrets = std::move(*loaded);
  }
  auto users = load_users(c);
  if (!users) {
    std::cerr << "hush-relay: --users-file: " << users.error() << "\n";
    return 2;
  }
  if (!users->empty()) log::info("--users-file: " + std::to_string(users->size()) + " static users");

  // Signals are handled by this thread alone: block them before other threads start.
  sigset_t signals;
  sigemptyset(&signals);
  for (int s : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&signals, s);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  auto live = std::make_unique<policy::RelayPortRegistry>();
  auto in_use = std::make_unique<policy::RelayPortRegistry>();
  turn::ReservationTable reservations;
  net::TcpConnectionRegistry tcp_connections;  // RFC 6062 peer connections, across workers
  privacy::Pseudonymizer pseudonyms;
  std::atomic<bool> pseudonyms_on{c.log_pseudonyms};
  State state;
  net::ConnectionLimits connections(c.max_connections, c.max_connections_per_source);
  std::shared_ptr<boost::asio::ssl::context> tls;
  net::DtlsContext dtls;
  if (!c.tls_listen.empty()) {
    auto made = load_tls(c);
    if (!made) {
      std::cerr << "hush-relay: --cert/--key: " << made.error() << "\n";
      return 2;
    }
    std::tie(tls, dtls) = std::move(*made);
  }
  state.quotas.set_limits(quota_limits(c));
  state.max_allocations = c.max_allocations;
  // Keyed by the minting secret: relays that share it accept each other's nonces (nonce.hpp).
  const auto nonce_issuer = [](const auth::SecretSet& s, std::int64_t lifetime) {
    return std::make_shared<const auth::NonceIssuer>(auth::NonceIssuer::with_key_from_secret(s.minting(), lifetime));
  };
  auto nonces = nonce_issuer(secrets, c.nonce_lifetime);
  auto snapshot = make_snapshot(c, secrets, std::move(*users), nonces, *live);

  const std::vector<Endpoint> listen = net::expand_wildcards(c.listen);
  if (listen.empty()) {
    std::cerr << "hush-relay: --listen: the wildcard address matches no address of this host\n";
    return 2;
  }
  std::string kernel_note;  // logged with the start line, after every other option had its say
  if (c.kernel_fastpath != config::Config::KernelFastpath::off) {
    using KF = config::Config::KernelFastpath;
    if (c.server.smoothing.count() > 0 || c.server.bandwidth_cap != 0) {
      // Every allocation stays in user space: the kernel neither smooths nor counts bytes.
      kernel_note = std::string("kernel fast path off: ") +
                    (c.server.smoothing.count() > 0 ? "--smoothing" : "--bandwidth-cap") +
                    " keeps every allocation in user space";
    } else {
      fastpath::Options ko;
      ko.entries = c.kernel_fastpath_entries;
      if (c.padding_udp && c.padding_mode != 0) {
        ko.pad = c.padding_mode == 1 ? fastpath::Options::Pad::block : fastpath::Options::Pad::fixed;
        ko.pad_size = static_cast<std::uint16_t>(c.padding_size);
      }
      std::vector<IpAddress> addresses;
      for (const auto& ep : listen) addresses.push_back(ep.ip);
      if (c.other_address) addresses.push_back(c.other_address->ip);
      if (c.relay_v4) addresses.push_back(*c.relay_v4);
      if (c.relay_v6) addresses.push_back(*c.relay_v6);
      auto opened = fastpath::BpfKernelPath::open(ko, addresses);
      if (opened) {
        state.kernel = std::move(*opened);
        std::string names;
        for (const auto& n : state.kernel->interfaces()) names += (names.empty() ? "" : ",") + n;
        kernel_note = "kernel fast path on: tcx ingress on " + names;
        for (const auto& n : state.kernel->skipped()) kernel_note += "; not on " + n + " (no Ethernet header)";
      } else if (c.kernel_fastpath == KF::on) {
        std::cerr << "hush-relay: --kernel-fastpath on: " << opened.error() << "\n";
        return 2;
      } else {
        kernel_note = "kernel fast path off: " + opened.error();
      }
    }
  }
  for (unsigned i = 0; i < c.threads; ++i) {
    net::WorkerConfig wc;
    wc.kernel = state.kernel.get();
    wc.first = i == 0;
    if (c.padding_udp) wc.udp_padding = stream_options(c).padding;
    wc.udp_gso = c.udp_gso;
    wc.listen = listen;
    wc.tls_listen = c.tls_listen;
    wc.other_address = c.other_address;
    wc.streams = stream_options(c);
    wc.relay = net::RelayPortsConfig{c.relay_v4, c.relay_v6, c.relay_port_min, c.relay_port_max, i, c.threads};
    wc.server = c.server;
    try {
      state.workers.push_back(std::make_unique<net::Worker>(
          wc, snapshot,
          net::Worker::Shared{*live, *in_use, state.quotas, reservations, pseudonyms, pseudonyms_on, connections,
                              tcp_connections},
          tls, dtls));
    } catch (const std::exception& e) {
      const std::string what = e.what();  // names its option, or is about a --listen address
      std::cerr << "hush-relay: " << (what.rfind("--", 0) == 0 ? "" : "--listen: ") << what << "\n";
      return 2;
    }
  }
  const metrics::Endpoints endpoints{[&state] { return state.metrics_text(); }, [&state] { return state.alive(); },
                                     [&state] { return state.ready(); }};
  std::unique_ptr<net::HttpServer> http;  // after what its handler uses: destroyed first
  if (c.metrics) {
    auto opened = net::HttpServer::open(*c.metrics, [&endpoints](const http::Request& r) {
      return metrics::route(endpoints, r);
    });
    if (!opened) {
      std::cerr << "hush-relay: --metrics: " << opened.error() << "\n";
      return 2;
    }
    http = std::move(*opened);
  }
  std::unique_ptr<api::CredentialApi> credentials;
  std::unique_ptr<net::HttpServer> api_http;  // after what its handler uses: destroyed first
  if (c.api) {
    auto keys = auth::SecretSet::load_file(c.api_key_file);
    if (!keys) {
      std::cerr << "hush-relay: --api-key-file: " << keys.error() << "\n";
      return 2;
    }
    credentials = std::make_unique<api::CredentialApi>(api_options(c, listen), std::move(*keys), secrets);
    auto opened = net::HttpServer::open(*c.api, [&credentials, &state](const http::Request& r) {
      auto res = credentials->handle(r, unix_now(), mono_ns());
      if (res.status >= 0 && res.status < static_cast<int>(state.api_responses.size())) ++state.api_responses[res.status];
      return res;
    });
    if (!opened) {
      std::cerr << "hush-relay: --api: " << opened.error() << "\n";
      return 2;
    }
    api_http = std::move(*opened);
  }
  std::vector<std::thread> threads;
  for (auto& w : state.workers) threads.emplace_back([&w] { w->run(); });
  if (http) http->start();
  if (api_http) api_http->start();

  log::info("hush-relay started: " + std::to_string(c.threads) + " workers, " + std::to_string(listen.size()) +
 " UDP/TCP listen addresses, " + std::to_string(c.tls_listen.size()) +
            " TLS/DTLS" + (c.other_address ? ", RFC 5780 NAT discovery on" : "") + (http ? ", metrics on" : "") +
            (api_http ? ", credential API on" : ""));
  if (!kernel_note.empty()) log::info(kernel_note);
  if (c.padding_udp)
    log::info(c.padding_mode != 0 ? "--padding-udp: ChannelData to UDP clients padded (" + c.padding +
                                         "); the Length field stays in clear"
                                   : std::string("--padding-udp has no effect with --padding off"));
  if (c.padding_mode != 0 && c.tls_listen.empty() && c.padding_given && !c.padding_udp)
    log::warn("--padding applies to TLS and DTLS legs only, and there is no --tls-listen: nothing is padded. UDP "
              "and TCP legs cannot be padded, because their length fields travel in clear");
  else if (c.padding_mode != 0 && !c.tls_listen.empty())
    log::info("--padding " + c.padding + " on TLS (1.3 only) and DTLS legs; UDP and TCP legs are not padded");
  if (generated) {
    // The safe default run: a secret that lives only in this process, and a credential for it.
    auto cred = auth::mint_credential(secrets, unix_now(), 3600);
    std::cout << "No --secret-file given: generated a secret for this run only.\n"
              << "Credential (valid 1 hour): " << auth::credential_json(cred, 3600, config::turn_uris(listen, c.tls_listen)) << "\n";
    for (const auto& uri : config::turn_uris(listen, c.tls_listen))
      std::cout << "TURN URI: " << uri << "  username: " << cred.username << "  password: " << cred.password << "\n";
    std::cout << std::flush;
  }

  // SIGHUP: the command line again, which re-reads --config and --secret-file. All or nothing:
  // a bad file keeps the running configuration.
  auto reload = [&] {
    auto reject = [&](const std::string& why) {
      log::error("SIGHUP: " + why + "; the running configuration is kept");
      ++state.reload_failures;
    };
    std::ostringstream errors;
    auto parsed = config::parse(argc, argv, errors);
    if (parsed.command != config::Command::run) {
      std::string why = errors.str();
      while (!why.empty() && why.back() == '\n') why.pop_back();
      return reject("configuration rejected: " + why);
    }
    config::Config next = std::move(parsed.config);
    auth::SecretSet next_secrets = secrets;
    if (!generated) {
      auto loaded = auth::SecretSet::load_file(next.secret_file);
      if (!loaded) return reject("--secret-file: " + loaded.error());
      next_secrets = std::move(*loaded);
    }
    auto next_users = load_users(next);
    if (!next_users) return reject("--users-file: " + next_users.error());
    std::shared_ptr<boost::asio::ssl::context> next_tls;
    net::DtlsContext next_dtls;
    if (tls) {
      auto made = load_tls(next);
      if (!made) return reject("--cert/--key: " + made.error());
      std::tie(next_tls, next_dtls) = std::move(*made);
    }
    auth::SecretSet next_keys;
    if (credentials) {
      auto keys = auth::SecretSet::load_file(next.api_key_file);
      if (!keys) return reject("--api-key-file: " + keys.error());
      next_keys = std::move(*keys);
    }
    for (const auto& option : config::restart_only_changes(c, next))
      log::warn("SIGHUP: " + option + " changed; it takes effect on restart, the running value is kept");
    // What only a restart changes stays as it is.
    next.listen = c.listen;
    next.relay_v4 = c.relay_v4;
    next.relay_v6 = c.relay_v6;
    next.external_v4 = c.external_v4;
    next.external_v6 = c.external_v6;
    next.relay_port_min = c.relay_port_min;
    next.relay_port_max = c.relay_port_max;
    next.threads = c.threads;
    next.metrics = c.metrics;
    next.api = c.api;
    next.tls_listen = c.tls_listen;
    next.padding = c.padding;
    next.padding_mode = c.padding_mode;
    next.padding_size = c.padding_size;
    if (generated) next.secret_file.clear();
    if (next.nonce_lifetime != c.nonce_lifetime || next_secrets.minting() != secrets.minting())
      nonces = nonce_issuer(next_secrets, next.nonce_lifetime);
    auto next_snapshot = make_snapshot(next, next_secrets, std::move(*next_users), nonces, *live);
    state.quotas.set_limits(quota_limits(next));
    state.max_allocations = next.max_allocations;
    for (auto& w : state.workers) {
      w->reconfigure(next_snapshot, next.server);
      w->set_stream_options(stream_options(next));
      if (next_tls) w->set_tls_context(next_tls, next_dtls);
    }
    connections.set(next.max_connections, next.max_connections_per_source);
    if (next_tls) tls = next_tls;
    if (credentials) credentials->reconfigure(api_options(next, listen), std::move(next_keys), next_secrets);
    log::set_level(next.log_level);
    log::set_format(next.log_format);
    pseudonyms_on = next.log_pseudonyms;
    secrets = std::move(next_secrets);
    c = std::move(next);
    ++state.reloads;
    log::info("SIGHUP: configuration and secrets reloaded");
  };

  using Clock = std::chrono::steady_clock;
  Clock::time_point drain_deadline{};
  for (;;) {
    int sig = 0;
    if (state.draining) {
      const auto allocations = state.quotas.total();
      if (allocations == 0) {
        log::info("drained: no allocations left");
        break;
      }
      if (Clock::now() >= drain_deadline) {
        log::info("drain timeout: stopping with " + std::to_string(allocations) + " allocations");
        break;
      }
      timespec wait{0, 200'000'000};
      siginfo_t info{};
      sig = ::sigtimedwait(&signals, &info, &wait);
      if (sig < 0) continue;
    } else if (sigwait(&signals, &sig) != 0) {
      continue;
    }
    if (sig == SIGHUP) {
      reload();
      continue;
    }
    if (sig == SIGTERM && !state.draining) {
      state.draining = true;
      drain_deadline = Clock::now() + std::chrono::seconds(c.drain_timeout);
      for (auto& w : state.workers) w->set_draining(true);
      log::info("SIGTERM: draining, no new allocations; existing ones relay until they end or --drain-timeout (" +
                std::to_string(c.drain_timeout) + " s); SIGTERM again stops now");
      continue;
    }
    log::info("stopping");
    break;
  }
  http.reset();
  api_http.reset();
  for (auto& w : state.workers) w->stop();
  for (auto& t : threads) t.join();
  state.workers.clear();
  for (const auto& s : reservations.drain()) ::close(static_cast<int>(s.handle));
  return 0;
}

}  // namespace hush::app
