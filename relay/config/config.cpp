#include "hush/config/config.hpp"

#include <CLI/CLI.hpp>

#include <charconv>
#include <iostream>
#include <thread>

namespace hush::config {
namespace {

struct Invalid {
  std::string option;
  std::string message;
};

template <class T>
T number(const std::string& option, const std::string& text, T min, T max) {
  T v{};
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc{} || p != text.data() + text.size() || v < min || v > max)
    throw Invalid{option, "expected a number from " + std::to_string(min) + " to " + std::to_string(max) +
                              ", got '" + text + "'"};
  return v;
}

IpAddress ip(const std::string& option, const std::string& text) {
  auto a = IpAddress::parse(text);
  if (!a) throw Invalid{option, "not an IP address: '" + text + "'"};
  return *a;
}

std::vector<policy::Cidr> cidrs(const std::string& option, const std::vector<std::string>& list) {
  std::vector<policy::Cidr> out;
  for (const auto& s : list) {
    auto c = policy::Cidr::parse(s);
    if (!c) throw Invalid{option, "not an address or CIDR range: '" + s + "'"};
    out.push_back(*c);
  }
  return out;
}

// Raw option values as CLI11 fills them; validated into Config afterwards.
struct Raw {
  std::vector<std::string> listen{"127.0.0.1:3478"};
  std::vector<std::string> tls_listen;
  std::string other_address;
  std::string cert;
  std::string key;
  std::string max_connections = "20000";
  std::string max_connections_per_source = "100";
  std::string stream_handshake_timeout = "10";
  std::string stream_idle_timeout = "600";
  std::string stream_send_buffer = "262144";
  std::string padding = "block:128";  // measured: docs/privacy.md, "What padding buys"
  bool padding_given = false;
  std::string smoothing = "off";
  bool cover = false;
  bool padding_udp = false;
  std::string kernel_fastpath = "auto";
  std::string allocation_default_family = "ipv4";
  std::string kernel_fastpath_entries = "65536";
  std::string udp_gso = "on";
  std::vector<std::string> relay_ip;
  std::vector<std::string> external_ip;
  std::string relay_ports = "49152-65535";
  std::string realm = "hush";
  std::string secret_file;
  std::string users_file;
  std::string threads = "0";
  std::vector<std::string> allow_peer;
  std::vector<std::string> deny_peer;
  bool relay_to_relay_only = false;
  std::vector<std::string> peer_relay;
  std::string log_level = "info";
  std::string log_format = "text";
  bool log_pseudonyms = false;
  std::string default_lifetime = "600";
  std::string max_lifetime = "3600";
  std::string nonce_lifetime = "600";
  std::string max_allocations = "100000";
  std::string user_quota = "100";
  std::string source_quota = "1000";
  std::string metrics;
  std::vector<std::string> alternate_server;
  std::string drain_timeout = "600";
  std::string bandwidth_cap = "0";
  std::string api;
  std::string api_key_file;
  std::string api_ttl = "600";
  std::string api_max_ttl = "3600";
  std::string api_rate = "20";
  std::vector<std::string> api_uri;
  std::string max_permissions = "64";
  std::string max_channels = "64";
  std::string unauth_rate = "100";
  std::string block_after = "20";
  std::string block_for = "300";
  std::string software;
};

void add_run_options(CLI::App& app, Raw& r) {
  app.add_option("--listen", r.listen, "UDP address to serve STUN/TURN on, IP:PORT or [IPv6]:PORT (repeatable)")
      ->capture_default_str();
  app.add_option("--other-address", r.other_address,
                 "RFC 5780 NAT behaviour discovery: a second IP:PORT of this host (another IP and another port "
                 "than the first --listen address of its family); UDP listeners are added on the four combinations");
  app.add_option("--tls-listen", r.tls_listen, "Address for TURN over TLS (TCP) and DTLS (UDP), IP:PORT (repeatable; needs --cert and --key)");
  app.add_option("--cert", r.cert, "PEM certificate chain for TLS and DTLS (re-read on SIGHUP)");
  app.add_option("--key", r.key, "PEM private key for TLS and DTLS (re-read on SIGHUP)");
  app.add_option("--max-connections", r.max_connections, "TCP and TLS connections and DTLS sessions in total (0: unlimited)")
      ->capture_default_str();
  app.add_option("--max-connections-per-source", r.max_connections_per_source,
                 "TCP and TLS connections and DTLS sessions per client IP address (0: unlimited)")
      ->capture_default_str();
  app.add_option("--stream-handshake-timeout", r.stream_handshake_timeout,
                 "Seconds a new TCP or TLS connection or DTLS session has to finish its handshake and send its first message")
      ->capture_default_str();
  app.add_option("--stream-idle-timeout", r.stream_idle_timeout,
                 "Seconds a TCP or TLS connection or DTLS session may stay silent before it is closed")
      ->capture_default_str();
  app.add_option("--stream-send-buffer", r.stream_send_buffer,
                 "Bytes queued per TCP or TLS connection for a slow reader; beyond it packets are dropped")
      ->capture_default_str();
  app.add_option("--padding", r.padding,
                 "off, block:N or fixed:N: pad messages to TLS and DTLS clients inside the encryption (TLS: one "
                 "TLS 1.3 record each, TLS 1.2 refused; DTLS: ChannelData and Data indications). UDP and TCP legs "
                 "cannot be padded")
      ->capture_default_str();
  app.add_flag("--padding-udp", r.padding_udp,
               "Also pad ChannelData to plain UDP clients (zero bytes after the message): hides sizes only from "
               "observers who cannot read the datagrams, such as outside a VPN; the Length field is in clear");
  app.add_option("--kernel-fastpath", r.kernel_fastpath,
                 "on, off or auto: forward bound channels of UDP allocations inside the kernel (eBPF at tcx ingress; "
                 "root or CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON; Linux 6.6+). auto: on where possible, else off with one log line")
      ->capture_default_str();
  app.add_option("--kernel-fastpath-entries", r.kernel_fastpath_entries,
                 "Channels the kernel fast path holds; beyond them new ones stay in user space")
      ->capture_default_str();
  app.add_option("--udp-gso", r.udp_gso,
                 "on or off: send same-size datagrams to one client or peer that leave in one batch as one UDP GSO "
                 "send (the kernel cuts it into the same datagrams); off where a route misbehaves")
      ->capture_default_str();
  app.add_option("--smoothing", r.smoothing,
                 "off or a tick such as 20ms (1-1000): media to each client leaves only on its allocation's clock, "
                 "at most one tick late, never reordered")
      ->capture_default_str();
  app.add_flag("--cover", r.cover,
               "With --smoothing: TLS and DTLS clients get a fixed pattern, one message a tick and two every "
               "fourth, media or else cover messages they discard");
  app.add_option("--allocation-default-address-family", r.allocation_default_family,
                 "ipv4, ipv6 or keep: the relayed address family of an Allocate that asks for none (RFC 8656: "
                 "ipv4); keep: the family the client itself uses, for relays without IPv4")
      ->capture_default_str();
  app.add_option("--relay-ip", r.relay_ip,
                 "Address relayed sockets bind to, one per family (repeatable; default: the listen address)");
  app.add_option("--external-ip", r.external_ip,
                 "Address reported to clients instead of the relay IP, for a relay behind 1:1 NAT (one per family)");
  app.add_option("--relay-ports", r.relay_ports, "Relayed port range MIN-MAX")->capture_default_str();
  app.add_option("--realm", r.realm, "REALM of long-term credentials")->capture_default_str();
  app.add_option("--secret-file", r.secret_file,
                 "File with REST shared secrets, one per line: the first mints, all verify "
                 "(default: a random secret for this run, printed with a credential)");
  app.add_option("--users-file", r.users_file,
                 "File of static long-term users, name:password or name:0xKEY (coturn's user= lines), one per "
                 "line (default: none, REST credentials only)");
  app.add_option("--threads", r.threads, "Worker threads (0: one per core)")->capture_default_str();
  app.add_option("--allow-peer", r.allow_peer, "Allow relaying to this CIDR despite the default deny ranges (repeatable)");
  app.add_option("--deny-peer", r.deny_peer, "Never relay to this CIDR (repeatable)");
  app.add_flag("--relay-to-relay-only", r.relay_to_relay_only,
               "Relay only between relayed addresses (this relay's and --peer-relay's): callers never exchange "
               "a packet with each other's own address");
  app.add_option("--peer-relay", r.peer_relay,
                 "Relayed addresses of sibling relays that --relay-to-relay-only accepts as peers (CIDR, repeatable)");
  app.add_option("--log-level", r.log_level, "debug, info, warn, error or off")->capture_default_str();
  app.add_option("--log-format", r.log_format, "text or json (one object per line)")->capture_default_str();
  app.add_flag("--log-pseudonyms", r.log_pseudonyms,
               "Name sources and usernames in event lines by a keyed hash (key in memory only, new every 24 h)");
  app.add_option("--default-lifetime", r.default_lifetime, "Allocation lifetime in seconds when the client asks for less")
      ->capture_default_str();
  app.add_option("--max-lifetime", r.max_lifetime, "Longest allocation lifetime in seconds")->capture_default_str();
  app.add_option("--nonce-lifetime", r.nonce_lifetime, "Seconds before a NONCE goes stale (438)")->capture_default_str();
  app.add_option("--max-allocations", r.max_allocations, "Allocations in total, over all workers")->capture_default_str();
  app.add_option("--user-quota", r.user_quota, "Allocations per username (0: unlimited)")->capture_default_str();
  app.add_option("--source-quota", r.source_quota, "Allocations per client IP address (0: unlimited)")
      ->capture_default_str();
  app.add_option("--bandwidth-cap", r.bandwidth_cap,
                 "Bytes per second each allocation may relay in each direction (0: no cap)")
      ->capture_default_str();
  app.add_option("--alternate-server", r.alternate_server,
                 "IP:PORT of another relay: Allocates get 300 ALTERNATE-SERVER to it while this one is "
                 "draining or full (repeatable, one per family)");
  app.add_option("--drain-timeout", r.drain_timeout,
                 "Seconds SIGTERM waits for allocations to end before exiting")
      ->capture_default_str();
  app.add_option("--api", r.api,
                 "IP:PORT to serve the credential API on (TURN REST API draft; default: off)");
  app.add_option("--api-key-file", r.api_key_file,
                 "File with API keys, one per line; callers send one as 'Authorization: Bearer KEY' (required with --api)");
  app.add_option("--api-ttl", r.api_ttl, "Seconds an API credential lives unless the caller asks for less or more")
      ->capture_default_str();
  app.add_option("--api-max-ttl", r.api_max_ttl, "Longest credential lifetime the API hands out, in seconds")
      ->capture_default_str();
  app.add_option("--api-rate", r.api_rate, "Credentials per second per API key (bursts of 5x)")->capture_default_str();
  app.add_option("--api-uri", r.api_uri,
                 "turn: URI listed in API answers (repeatable; default: from --listen and --external-ip)");
  app.add_option("--metrics", r.metrics,
                 "IP:PORT to serve Prometheus /metrics, /healthz and /readyz on (default: off)");
  app.add_option("--max-permissions", r.max_permissions, "Permissions per allocation")->capture_default_str();
  app.add_option("--max-channels", r.max_channels, "Channel bindings per allocation")->capture_default_str();
  app.add_option("--unauth-rate", r.unauth_rate,
                 "Answers per second to unauthenticated requests per source /24 or /64 (0: unlimited)")
      ->capture_default_str();
  app.add_option("--block-after", r.block_after,
                 "Failures of one source address (/64 for IPv6) within 60 s that block its requests: wrong "
                 "credentials sent with a valid nonce, peers on the relay's host (0: never block)")
      ->capture_default_str();
  app.add_option("--block-for", r.block_for, "Seconds a --block-after block lasts")->capture_default_str();
  app.add_option("--software", r.software, "SOFTWARE attribute to send (default: none; it fingerprints the server)");
}

Config validate(const Raw& r, const std::string& config_file) {
  Config c;
  c.config_file = config_file;
  if (r.listen.empty()) throw Invalid{"--listen", "at least one address is needed"};
  for (const auto& s : r.listen) {
    auto ep = Endpoint::parse(s);
    if (!ep || ep->port == 0) throw Invalid{"--listen", "expected IP:PORT or [IPv6]:PORT, got '" + s + "'"};
    c.listen.push_back(*ep);
  }
  for (const auto& s : r.tls_listen) {
    auto ep = Endpoint::parse(s);
    if (!ep || ep->port == 0) throw Invalid{"--tls-listen", "expected IP:PORT or [IPv6]:PORT, got '" + s + "'"};
    for (const auto& l : c.listen)
      if (l.port == ep->port && (l.ip == ep->ip || l.ip.is_unspecified() || ep->ip.is_unspecified()))
        throw Invalid{"--tls-listen", "port " + std::to_string(ep->port) + " is taken by --listen (TCP)"};
    c.tls_listen.push_back(*ep);
  }
  if (!r.other_address.empty()) {
    auto ep = Endpoint::parse(r.other_address);
    if (!ep || ep->port == 0 || ep->ip.is_unspecified())
      throw Invalid{"--other-address", "expected a specific IP:PORT or [IPv6]:PORT, got '" + r.other_address + "'"};
    bool paired = false;
    for (const auto& l : c.listen)
      paired |= l.ip.is_v4() == ep->ip.is_v4() && l.port != ep->port && (l.ip.is_unspecified() || l.ip != ep->ip);
    if (!paired)
      throw Invalid{"--other-address", "needs a --listen address of the same family with another IP and another port"};
    c.other_address = *ep;
  }
  if (!c.tls_listen.empty() && (r.cert.empty() || r.key.empty()))
    throw Invalid{r.cert.empty() ? "--cert" : "--key", "required with --tls-listen"};
  c.cert_file = r.cert;
  c.key_file = r.key;
  c.max_connections = number<std::size_t>("--max-connections", r.max_connections, 0, 10000000);
  c.max_connections_per_source =
      number<std::size_t>("--max-connections-per-source", r.max_connections_per_source, 0, 10000000);
  c.stream_handshake_timeout = number<std::int64_t>("--stream-handshake-timeout", r.stream_handshake_timeout, 1, 600);
  c.stream_idle_timeout = number<std::int64_t>("--stream-idle-timeout", r.stream_idle_timeout, 10, 86400);
  c.stream_send_buffer = number<std::size_t>("--stream-send-buffer", r.stream_send_buffer, 65536 + 64, 64 << 20);
  c.padding = r.padding;
  c.padding_given = r.padding_given;
  c.padding_mode = 0;
  c.padding_size = 0;
  if (r.padding != "off") {
    const auto colon = r.padding.find(':');
    const std::string mode = r.padding.substr(0, colon);
    if (colon == std::string::npos || (mode != "block" && mode != "fixed"))
      throw Invalid{"--padding", "expected off, block:N or fixed:N, got '" + r.padding + "'"};
    c.padding_mode = mode == "block" ? 1 : 2;
    c.padding_size = number<std::size_t>("--padding", r.padding.substr(colon + 1), 16, 8192);
  }
  c.padding_udp = r.padding_udp;
  if (r.udp_gso == "on") c.udp_gso = true;
  else if (r.udp_gso == "off") c.udp_gso = false;
  else throw Invalid{"--udp-gso", "expected on or off, got '" + r.udp_gso + "'"};
  if (r.kernel_fastpath == "on") c.kernel_fastpath = Config::KernelFastpath::on;
  else if (r.kernel_fastpath == "off") c.kernel_fastpath = Config::KernelFastpath::off;
  else if (r.kernel_fastpath == "auto") c.kernel_fastpath = Config::KernelFastpath::autodetect;
  else throw Invalid{"--kernel-fastpath", "expected on, off or auto, got '" + r.kernel_fastpath + "'"};
  c.kernel_fastpath_entries =
      number<std::size_t>("--kernel-fastpath-entries", r.kernel_fastpath_entries, 1, 16 << 20);
  if (r.smoothing != "off") {
    const bool ms = r.smoothing.size() > 2 && r.smoothing.ends_with("ms");
    if (!ms) throw Invalid{"--smoothing", "expected off or a tick in milliseconds such as 20ms, got '" + r.smoothing + "'"};
    c.server.smoothing = std::chrono::milliseconds(
        number<std::int64_t>("--smoothing", r.smoothing.substr(0, r.smoothing.size() - 2), 1, 1000));
  }
  if (r.cover) {
    if (c.server.smoothing.count() == 0)
      throw Invalid{"--cover", "needs --smoothing: cover fills the ticks of its clock that carry no media"};
    if (c.tls_listen.empty())
      throw Invalid{"--cover", "needs --tls-listen: cover is only sent inside TLS and DTLS, because on plain UDP or "
                               "TCP an observer reads its channel number and tells it apart"};
    c.server.cover = true;
  }
  for (const auto& s : r.relay_ip) {
    IpAddress a = ip("--relay-ip", s);
    if (a.is_unspecified()) throw Invalid{"--relay-ip", "must be a concrete address, got '" + s + "'"};
    auto& slot = a.is_v4() ? c.relay_v4 : c.relay_v6;
    if (slot) throw Invalid{"--relay-ip", "at most one address per family"};
    slot = a;
  }
  if (!c.relay_v4 && !c.relay_v6) {
    for (const auto& ep : c.listen) {
      if (ep.ip.is_unspecified()) continue;
      auto& slot = ep.ip.is_v4() ? c.relay_v4 : c.relay_v6;
      if (!slot) slot = ep.ip;
    }
    if (!c.relay_v4 && !c.relay_v6)
      throw Invalid{"--relay-ip", "required when every --listen address is a wildcard"};
  }
  for (const auto& s : r.external_ip) {
    IpAddress a = ip("--external-ip", s);
    auto& slot = a.is_v4() ? c.external_v4 : c.external_v6;
    if (slot) throw Invalid{"--external-ip", "at most one address per family"};
    slot = a;
  }
  const auto dash = r.relay_ports.find('-');
  if (dash == std::string::npos) throw Invalid{"--relay-ports", "expected MIN-MAX, got '" + r.relay_ports + "'"};
  c.relay_port_min = number<std::uint16_t>("--relay-ports", r.relay_ports.substr(0, dash), 1024, 65535);
  c.relay_port_max = number<std::uint16_t>("--relay-ports", r.relay_ports.substr(dash + 1), 1024, 65535);
  if (c.relay_port_min > c.relay_port_max) throw Invalid{"--relay-ports", "MIN is above MAX"};
  for (const auto& ep : c.listen)
    if (ep.port >= c.relay_port_min && ep.port <= c.relay_port_max)
      throw Invalid{"--relay-ports", "the range holds the listening port " + std::to_string(ep.port)};
  if (r.realm.empty() || r.realm.size() > 127) throw Invalid{"--realm", "needs 1 to 127 characters"};
  c.realm = r.realm;
  c.secret_file = r.secret_file;
  c.users_file = r.users_file;
  c.threads = number<unsigned>("--threads", r.threads, 0, 256);
  if (c.threads == 0) c.threads = std::max(1u, std::thread::hardware_concurrency());
  c.allow_peer = cidrs("--allow-peer", r.allow_peer);
  c.deny_peer = cidrs("--deny-peer", r.deny_peer);
  c.relay_to_relay_only = r.relay_to_relay_only;
  c.peer_relay = cidrs("--peer-relay", r.peer_relay);
  if (!c.peer_relay.empty() && !c.relay_to_relay_only)
    throw Invalid{"--peer-relay", "applies only with --relay-to-relay-only"};
  if (!log::parse_level(r.log_level, c.log_level))
    throw Invalid{"--log-level", "expected debug, info, warn, error or off, got '" + r.log_level + "'"};
  if (!log::parse_format(r.log_format, c.log_format))
    throw Invalid{"--log-format", "expected text or json, got '" + r.log_format + "'"};
  c.log_pseudonyms = r.log_pseudonyms;
  const auto max_lifetime = number<std::int64_t>("--max-lifetime", r.max_lifetime, 60, 86400);
  const auto default_lifetime = number<std::int64_t>("--default-lifetime", r.default_lifetime, 60, 86400);
  if (default_lifetime > max_lifetime) throw Invalid{"--default-lifetime", "is above --max-lifetime"};
  c.server.max_lifetime = turn::Seconds{max_lifetime};
  c.server.default_lifetime = turn::Seconds{default_lifetime};
  c.nonce_lifetime = number<std::int64_t>("--nonce-lifetime", r.nonce_lifetime, 30, 86400);
  c.max_allocations = number<std::size_t>("--max-allocations", r.max_allocations, 1, 10000000);
  c.user_quota = number<std::size_t>("--user-quota", r.user_quota, 0, 10000000);
  c.source_quota = number<std::size_t>("--source-quota", r.source_quota, 0, 10000000);
  c.server.bandwidth_cap = number<std::uint64_t>("--bandwidth-cap", r.bandwidth_cap, 0, 1'000'000'000);
  if (c.server.bandwidth_cap != 0 && c.server.bandwidth_cap < 1000)
    throw Invalid{"--bandwidth-cap", "below 1000 bytes per second no call fits; use 0 for no cap"};
  for (const auto& a : r.alternate_server) {
    auto ep = Endpoint::parse(a);
    if (!ep || ep->port == 0 || ep->ip.is_unspecified())
      throw Invalid{"--alternate-server", "expected IP:PORT or [IPv6]:PORT, got '" + a + "'"};
    for (const auto& other : c.server.alternate_servers)
      if (other.ip.is_v4() == ep->ip.is_v4()) throw Invalid{"--alternate-server", "at most one per family"};
    c.server.alternate_servers.push_back(*ep);
  }
  c.drain_timeout = number<std::int64_t>("--drain-timeout", r.drain_timeout, 0, 86400);
  if (!r.api.empty()) {
    auto ep = Endpoint::parse(r.api);
    if (!ep || ep->port == 0) throw Invalid{"--api", "expected IP:PORT or [IPv6]:PORT, got '" + r.api + "'"};
    c.api = *ep;
    if (r.api_key_file.empty()) throw Invalid{"--api-key-file", "required with --api"};
  }
  c.api_key_file = r.api_key_file;
  c.api_max_ttl = number<std::int64_t>("--api-max-ttl", r.api_max_ttl, 30, 86400);
  c.api_ttl = number<std::int64_t>("--api-ttl", r.api_ttl, 30, 86400);
  if (c.api_ttl > c.api_max_ttl) throw Invalid{"--api-ttl", "is above --api-max-ttl"};
  c.api_rate = number<unsigned>("--api-rate", r.api_rate, 1, 100000);
  for (const auto& u : r.api_uri) {
    if (u.rfind("turn:", 0) != 0 && u.rfind("turns:", 0) != 0 && u.rfind("stun:", 0) != 0)
      throw Invalid{"--api-uri", "expected a turn:, turns: or stun: URI, got '" + u + "'"};
    if (u.find_first_of("\"\\ ") != std::string::npos) throw Invalid{"--api-uri", "no quotes, backslashes or spaces"};
  }
  c.api_uris = r.api_uri;
  if (!r.metrics.empty()) {
    auto ep = Endpoint::parse(r.metrics);
    if (!ep || ep->port == 0) throw Invalid{"--metrics", "expected IP:PORT or [IPv6]:PORT, got '" + r.metrics + "'"};
    c.metrics = *ep;
  }
  c.server.max_permissions = number<std::size_t>("--max-permissions", r.max_permissions, 1, 1024);
  c.server.max_channels = number<std::size_t>("--max-channels", r.max_channels, 1, 4096);
  // Each worker enforces its share, so the limit holds however the kernel spreads one
  // prefix's 5-tuples over the workers' sockets.
  c.server.unauth_rate = number<unsigned>("--unauth-rate", r.unauth_rate, 0, 1000000) / double(c.threads);
  c.server.unauth_burst = 2 * c.server.unauth_rate;
  // Per worker: a client's 5-tuple stays on one worker, so one client is counted whole.
  c.server.block.strikes = number<unsigned>("--block-after", r.block_after, 0, 1000000);
  c.server.block.block_ns = number<std::int64_t>("--block-for", r.block_for, 1, 86400) * 1'000'000'000;
  if (r.software.size() > 127) throw Invalid{"--software", "at most 127 characters"};
  c.server.software = r.software;
  c.server.external_ip_v4 = c.external_v4;
  c.server.external_ip_v6 = c.external_v6;
  c.server.relay_v4 = c.relay_v4.has_value();
  c.server.relay_v6 = c.relay_v6.has_value();
  using DefaultFamily = turn::ServerOptions::DefaultFamily;
  if (r.allocation_default_family == "ipv4") c.server.default_family = DefaultFamily::v4;
  else if (r.allocation_default_family == "ipv6") c.server.default_family = DefaultFamily::v6;
  else if (r.allocation_default_family == "keep") c.server.default_family = DefaultFamily::keep;
  else
    throw Invalid{"--allocation-default-address-family",
                  "expected ipv4, ipv6 or keep, got '" + r.allocation_default_family + "'"};
  return c;
}

}  // namespace

std::vector<std::string> turn_uris(const std::vector<Endpoint>& listen, const std::vector<Endpoint>& tls_listen) {
  std::vector<std::string> out;
  for (const char* transport : {"udp", "tcp"})
    for (const auto& ep : listen)
      if (!ep.ip.is_unspecified()) out.push_back("turn:" + ep.to_string() + "?transport=" + transport);
  // RFC 7065: turns: with transport=udp is TURN over DTLS.
  for (const char* transport : {"udp", "tcp"})
    for (const auto& ep : tls_listen)
      if (!ep.ip.is_unspecified()) out.push_back("turns:" + ep.to_string() + "?transport=" + transport);
  return out;
}

std::vector<std::string> restart_only_changes(const Config& a, const Config& b) {
  std::vector<std::string> changed;
  if (a.listen != b.listen) changed.push_back("--listen");
  if (a.relay_v4 != b.relay_v4 || a.relay_v6 != b.relay_v6) changed.push_back("--relay-ip");
  if (a.external_v4 != b.external_v4 || a.external_v6 != b.external_v6) changed.push_back("--external-ip");
  if (a.relay_port_min != b.relay_port_min || a.relay_port_max != b.relay_port_max) changed.push_back("--relay-ports");
  if (a.threads != b.threads) changed.push_back("--threads");
  if (a.metrics != b.metrics) changed.push_back("--metrics");
  if (a.api != b.api) changed.push_back("--api");
  if (a.tls_listen != b.tls_listen) changed.push_back("--tls-listen");
  if (a.other_address != b.other_address) changed.push_back("--other-address");
  if (a.padding != b.padding) changed.push_back("--padding");
  if (a.server.smoothing != b.server.smoothing) changed.push_back("--smoothing");
  if (a.server.cover != b.server.cover) changed.push_back("--cover");
  if (a.padding_udp != b.padding_udp) changed.push_back("--padding-udp");
  if (a.kernel_fastpath != b.kernel_fastpath) changed.push_back("--kernel-fastpath");
  if (a.kernel_fastpath_entries != b.kernel_fastpath_entries) changed.push_back("--kernel-fastpath-entries");
  if (a.udp_gso != b.udp_gso) changed.push_back("--udp-gso");
  if (a.secret_file.empty() != b.secret_file.empty()) changed.push_back("--secret-file");
  return changed;
}

Parsed parse(int argc, const char* const* argv) { return parse(argc, argv, std::cerr); }

Parsed parse(int argc, const char* const* argv, std::ostream& errors) {
  Parsed result;
  CLI::App app{"hush-relay: a TURN/STUN media relay built for privacy", "hush-relay"};
  app.set_version_flag("--version", "hush-relay 0.1.0");
  Raw raw;
  std::string config_file;
  app.set_config("--config", "", "Read options from a TOML/INI file; keys are the long option names");
  add_run_options(app, raw);
  bool check_only = false;
  app.add_flag("--check-config", check_only,
               "Check the options, the config file and the secret file, then exit (0: all valid)");

  CLI::App* cred = app.add_subcommand("credential", "Print a fresh anonymous REST credential as JSON and exit");
  cred->fallthrough();  // --listen and --config may follow the subcommand, for the URIs
  CredentialRequest& cr = result.credential;
  std::string ttl = "600";
  cred->add_option("--secret-file", cr.secret_file, "File with REST shared secrets; the first one mints")->required();
  cred->add_option("--ttl", ttl, "Seconds the credential stays valid")->capture_default_str();
  cred->add_option("--uri", cr.uris, "turn: URI to list in the answer (repeatable; default: from --listen)");

  CLI::App* import = app.add_subcommand(
      "import-coturn",
      "Print a hush config file (TOML) equivalent to a coturn turnserver.conf; on stderr, every coturn option "
      "dropped or changed and why");
  ImportRequest& ir = result.import;
  import->add_option("file", ir.file, "coturn's turnserver.conf")->required();
  import->add_option("--secret-file", ir.secret_file, "Where the config says the REST secrets are")
      ->capture_default_str();
  import->add_option("--users-file", ir.users_file, "Where the config says the static users are")->capture_default_str();
  import->add_flag("--write-secrets", ir.write_secrets,
                   "Write coturn's static-auth-secret and user= lines into those files (mode 0600; never over an "
                   "existing file)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    result.command = Command::exit;
    return result;
  } catch (const CLI::CallForAllHelp&) {
    std::cout << app.help("", CLI::AppFormatMode::All);
    return result;
  } catch (const CLI::Success& e) {
    app.exit(e);
    return result;
  } catch (const CLI::ParseError& e) {
    errors << "hush-relay: " << e.what() << "\n";
    result.exit_code = 2;
    return result;
  }

  if (import->parsed()) {
    result.command = Command::import_coturn;
    return result;
  }
  try {
    if (auto* opt = app.get_config_ptr(); opt != nullptr && opt->count() > 0) config_file = opt->as<std::string>();
    raw.padding_given = app.count("--padding") > 0;
    result.config = validate(raw, config_file);
    result.config.check_only = check_only;
    if (cred->parsed()) {
      cr.ttl = number<std::int64_t>("--ttl", ttl, 30, 86400);
      if (cr.uris.empty()) cr.uris = turn_uris(result.config.listen);
      result.command = Command::credential;
    } else {
      result.command = Command::run;
    }
  } catch (const Invalid& e) {
    errors << "hush-relay: " << e.option << ": " << e.message << "\n";
    result.command = Command::exit;
    result.exit_code = 2;
  }
  return result;
}

}  // namespace hush::config
