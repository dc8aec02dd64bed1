// Every option of hush-relay in one validated struct. Flags and the config file (--config,
// TOML or INI, keys equal the long flag names) share one definition; docs/configuration.md
// lists them all.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "hush/base/address.hpp"
#include "hush/base/log.hpp"
#include "hush/policy/cidr.hpp"
#include "hush/turn/server.hpp"

namespace hush::config {

struct Config {
  std::vector<Endpoint> listen;       // UDP and TCP
  std::vector<Endpoint> tls_listen;   // TURN over TLS
  std::optional<Endpoint> other_address;  // RFC 5780 NAT behaviour discovery
  std::string cert_file;
  std::string key_file;
  std::size_t max_connections = 20000;
  std::size_t max_connections_per_source = 100;
  std::int64_t stream_handshake_timeout = 10;
  std::int64_t stream_idle_timeout = 600;
  std::size_t stream_send_buffer = 256 * 1024;
  std::string padding = "block:128";  // off, block:N or fixed:N (validated); TLS and DTLS legs
  int padding_mode = 1;               // 0 off, 1 block, 2 fixed
  std::size_t padding_size = 128;
  bool padding_given = false;         // set on the command line or in the config file
  bool padding_udp = false;           // --padding-udp: also ChannelData to plain UDP clients
  enum class KernelFastpath { off, on, autodetect } kernel_fastpath = KernelFastpath::autodetect;
  std::size_t kernel_fastpath_entries = 65536;
  bool udp_gso = true;  // --udp-gso
  std::optional<IpAddress> relay_v4;
  std::optional<IpAddress> relay_v6;
  std::optional<IpAddress> external_v4;
  std::optional<IpAddress> external_v6;
  std::uint16_t relay_port_min = 49152;
  std::uint16_t relay_port_max = 65535;
  std::string realm = "hush";
  std::string secret_file;  // empty: a secret is generated for this run only
  std::string users_file;   // static long-term users; empty: none
  unsigned threads = 1;
  std::vector<policy::Cidr> allow_peer;
  std::vector<policy::Cidr> deny_peer;
  bool relay_to_relay_only = false;     // peers only at relayed addresses
  std::vector<policy::Cidr> peer_relay;  // sibling relays' relayed addresses
  log::Level log_level = log::Level::info;
  log::Format log_format = log::Format::text;
  bool log_pseudonyms = false;
  std::int64_t nonce_lifetime = 600;
  std::size_t max_allocations = 100000;
  std::size_t user_quota = 100;
  std::size_t source_quota = 1000;
  std::optional<Endpoint> metrics;  // --metrics: /metrics, /healthz, /readyz
  std::optional<Endpoint> api;      // --api: the credential endpoint
  std::string api_key_file;
  std::int64_t api_ttl = 600;
  std::int64_t api_max_ttl = 3600;
  double api_rate = 20;
  std::vector<std::string> api_uris;  // default: turn_uris() of the listen/external addresses
  std::int64_t drain_timeout = 600;
  turn::ServerOptions server;  // lifetimes, per-allocation limits, rate limit, alternates, software
  std::string config_file;
  bool check_only = false;  // --check-config
};

// Options that take effect only at start; a reload that changes one keeps the running value
// and says so.
std::vector<std::string> restart_only_changes(const Config& running, const Config& next);

struct CredentialRequest {
  std::string secret_file;
  std::int64_t ttl = 600;
  std::vector<std::string> uris;
};

// `hush-relay import-coturn FILE`: coturn_import.hpp.
struct ImportRequest {
  std::string file;
  std::string secret_file = "/etc/hush/secret";
  std::string users_file = "/etc/hush/users";
  bool write_secrets = false;  // write the secret and users files (mode 0600, never over a file)
};

enum class Command { run, credential, import_coturn, exit };

struct Parsed {
  Command command = Command::exit;
  int exit_code = 0;  // for Command::exit: 0 after --help/--version, 2 after a bad option
  Config config;
  CredentialRequest credential;
  ImportRequest import;
};

// Parses argv. On a bad option prints one line naming it to `errors` and returns exit code 2.
Parsed parse(int argc, const char* const* argv, std::ostream& errors);
Parsed parse(int argc, const char* const* argv);  // errors to stderr

// The turn: URIs (UDP and TCP) for the listen addresses, and turns: ones for TLS.
std::vector<std::string> turn_uris(const std::vector<Endpoint>& listen, const std::vector<Endpoint>& tls_listen = {});

}  // namespace hush::config
