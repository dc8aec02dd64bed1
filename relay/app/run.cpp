// Starts the workers, then waits for signals: SIGHUP re-reads the secrets, SIGINT/SIGTERM stop.
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <memory>
#include <thread>
#include <vector>

#include "app.hpp"
#include "hush/auth/authenticator.hpp"
#include "hush/base/log.hpp"
#include "hush/net/host_addresses.hpp"
#include "hush/net/worker.hpp"

namespace hush::app {
namespace {

policy::PeerPolicyConfig peer_policy_config(const config::Config& c) {
  policy::PeerPolicyConfig p;
  p.allow = c.allow_peer;
  p.deny = c.deny_peer;
  p.host_addresses = net::host_addresses();
  for (const auto& a : {c.relay_v4, c.relay_v6, c.external_v4, c.external_v6})
    if (a) p.host_addresses.push_back(*a);
  for (const auto& ep : c.listen) {
    p.host_addresses.push_back(ep.ip);
    p.service_ports.push_back(ep.port);
  }
  p.relay_port_min = c.relay_port_min;
  p.relay_port_max = c.relay_port_max;
  return p;
}

std::shared_ptr<const turn::Snapshot> make_snapshot(const config::Config& c, auth::SecretSet secrets,
                                                    std::shared_ptr<const auth::NonceIssuer> nonces,
                                                    const policy::RelayPortRegistry& live) {
  return std::make_shared<const turn::Snapshot>(turn::Snapshot{
      auth::Authenticator(c.realm, std::move(secrets), std::move(nonces)),
      policy::PeerPolicy(peer_policy_config(c), &live)});
}

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

int run(const config::Config& c) {
  log::set_level(c.log_level);
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

  // Signals are handled by this thread alone: block them before workers start.
  sigset_t signals;
  sigemptyset(&signals);
  for (int s : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&signals, s);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  auto live = std::make_unique<policy::RelayPortRegistry>();
  auto in_use = std::make_unique<policy::RelayPortRegistry>();
  turn::UserQuota quota(c.user_quota);
  turn::ReservationTable reservations;
  auto nonces = std::make_shared<const auth::NonceIssuer>(auth::NonceIssuer::with_random_key(c.nonce_lifetime));
  auto snapshot = make_snapshot(c, secrets, nonces, *live);

  const std::vector<Endpoint> listen = net::expand_wildcards(c.listen);
  if (listen.empty()) {
    std::cerr << "hush-relay: --listen: the wildcard address matches no address of this host\n";
    return 2;
  }
  std::vector<std::unique_ptr<net::Worker>> workers;
  for (unsigned i = 0; i < c.threads; ++i) {
    net::WorkerConfig wc;
    wc.listen = listen;
    wc.relay = net::RelayPortsConfig{c.relay_v4, c.relay_v6, c.relay_port_min, c.relay_port_max, i, c.threads};
    wc.server = c.server;
    try {
      workers.push_back(std::make_unique<net::Worker>(wc, snapshot, net::Worker::Shared{*live, *in_use, quota, reservations}));
    } catch (const std::exception& e) {
      std::cerr << "hush-relay: --listen: " << e.what() << "\n";
      return 2;
    }
  }
  std::vector<std::thread> threads;
  for (auto& w : workers) threads.emplace_back([&w] { w->run(); });

  log::info("hush-relay started: " + std::to_string(c.threads) + " workers, " + std::to_string(listen.size()) +
            " UDP listen addresses");
  if (generated) {
    // The safe default run: a secret that lives only in this process, and a credential for it.
    auto cred = auth::mint_credential(secrets, unix_now(), 3600);
    std::cout << "No --secret-file given: generated a secret for this run only.\n"
              << "Credential (valid 1 hour): " << credential_json(cred, 3600, config::turn_uris(listen)) << "\n";
    for (const auto& uri : config::turn_uris(listen))
      std::cout << "TURN URI: " << uri << "  username: " << cred.username << "  password: " << cred.password << "\n";
    std::cout << std::flush;
  }

  for (;;) {
    int sig = 0;
    if (sigwait(&signals, &sig) != 0) continue;
    if (sig == SIGHUP) {
      if (generated) {
        log::info("SIGHUP: no --secret-file to re-read");
        continue;
      }
      auto loaded = auth::SecretSet::load_file(c.secret_file);
      if (!loaded) {
        log::error("SIGHUP: keeping the old secrets: " + loaded.error());
        continue;
      }
      auto next = make_snapshot(c, std::move(*loaded), nonces, *live);
      for (auto& w : workers) w->replace_snapshot(next);
      log::info("SIGHUP: secrets reloaded");
      continue;
    }
    log::info("stopping");
    break;
  }
  for (auto& w : workers) w->stop();
  for (auto& t : threads) t.join();
  workers.clear();
  for (const auto& s : reservations.drain()) ::close(static_cast<int>(s.handle));
  return 0;
}

}  // namespace hush::app
