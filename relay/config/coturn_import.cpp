// coturn's turnserver.conf into hush's TOML. Every option coturn 4.6 knows is either carried
// over, or noted as dropped or changed with the reason; anything else is noted as unknown.
// docs/migrating-from-coturn.md is the same mapping for people.
#include "hush/config/coturn_import.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "hush/base/address.hpp"
#include "hush/policy/cidr.hpp"
#include "hush/policy/special_purpose.hpp"

namespace hush::config {
namespace {

__extension__ typedef unsigned __int128 u128;  // IPv6 ranges as numbers (GCC and Clang)

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::string unquote(std::string_view v) {
  v = trim(v);
  if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front()) v = v.substr(1, v.size() - 2);
  return std::string(v);
}

std::optional<long long> integer(std::string_view v) {
  long long n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || p != v.data() + v.size()) return std::nullopt;
  return n;
}

// A TOML basic string.
std::string toml_string(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string list(const std::vector<std::string>& items) {
  std::string out = "[";
  for (std::size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + toml_string(items[i]);
  return out + "]";
}

std::string endpoint(const IpAddress& ip, long long port) {
  return (ip.is_v6() ? "[" + ip.to_string() + "]" : ip.to_string()) + ":" + std::to_string(port);
}

u128 to_u128(const IpAddress& a) {
  u128 v = 0;
  for (std::size_t i = 0; i < a.size(); ++i) v = v << 8 | a.data()[i];
  return v;
}

IpAddress from_u128(u128 v, bool v4) {
  std::uint8_t b[16] = {};
  const std::size_t n = v4 ? 4 : 16;
  for (std::size_t i = 0; i < n; ++i) b[n - 1 - i] = static_cast<std::uint8_t>(v >> (8 * i));
  return v4 ? IpAddress::v4_bytes(b) : IpAddress::v6_bytes(b);
}

struct Range {
  bool v4;
  u128 lo, hi;
};

// coturn's peer ranges: "A-B" or "A" (and, a hush habit coturn does not have, "A/N").
std::optional<Range> parse_range(std::string_view text) {
  text = trim(text);
  if (const auto slash = text.find('/'); slash != std::string_view::npos) {
    auto c = policy::Cidr::parse(text);
    if (!c) return std::nullopt;
    const bool v4 = c->network.is_v4();
    const int bits = v4 ? 32 : 128;
    const u128 lo = to_u128(c->network);
    const u128 span = c->prefix == 0 ? (bits == 128 ? ~u128{0} : (u128{1} << bits) - 1)
                                     : (u128{1} << (bits - c->prefix)) - 1;
    return Range{v4, lo, lo + span};
  }
  const auto dash = text.find('-');
  auto lo = IpAddress::parse(trim(text.substr(0, dash)));
  auto hi = dash == std::string_view::npos ? lo : IpAddress::parse(trim(text.substr(dash + 1)));
  if (!lo || !hi || lo->family() != hi->family() || to_u128(*lo) > to_u128(*hi)) return std::nullopt;
  return Range{lo->is_v4(), to_u128(*lo), to_u128(*hi)};
}

// The CIDR blocks that cover a range exactly.
std::vector<std::string> cidrs_of(const Range& r) {
  const int bits = r.v4 ? 32 : 128;
  const u128 all = bits == 128 ? ~u128{0} : (u128{1} << bits) - 1;
  std::vector<std::string> out;
  u128 a = r.lo;
  while (true) {
    // The largest block that starts at a and ends at or before hi: 2^size addresses.
    int size = 0;
    while (size < bits) {
      const u128 mask = size + 1 == 128 ? ~u128{0} : (u128{1} << (size + 1)) - 1;
      if ((a & mask) != 0 || (size + 1 == bits ? !(a == 0 && r.hi == all) : a + mask > r.hi)) break;
      ++size;
    }
    out.push_back(from_u128(a, r.v4).to_string() + "/" + std::to_string(bits - size));
    const u128 last = size == 128 ? ~u128{0} : a + ((u128{1} << size) - 1);
    if (last >= r.hi) break;
    a = last + 1;
  }
  return out;
}

// `r` less every range of `holes` (of its family).
std::vector<Range> subtract(const Range& r, const std::vector<Range>& holes) {
  std::vector<Range> parts{r};
  for (const auto& h : holes) {
    if (h.v4 != r.v4) continue;
    std::vector<Range> next;
    for (const auto& p : parts) {
      if (h.hi < p.lo || h.lo > p.hi) {
        next.push_back(p);
        continue;
      }
      if (h.lo > p.lo) next.push_back(Range{p.v4, p.lo, h.lo - 1});
      if (h.hi < p.hi) next.push_back(Range{p.v4, h.hi + 1, p.hi});
    }
    parts = std::move(next);
  }
  return parts;
}

// True when the whole CIDR lies in one block hush denies by default.
bool denied_by_default(const std::string& cidr_text) {
  const auto c = policy::Cidr::parse(cidr_text);
  if (!c) return false;
  const bool v4 = c->network.is_v4();
  const int bits = v4 ? 32 : 128;
  const u128 first = to_u128(c->network);
  const u128 span = c->prefix == 0 ? ~u128{0} >> (128 - bits) : (u128{1} << (bits - c->prefix)) - 1;
  const IpAddress last = from_u128(first + span, v4);
  static const std::vector<policy::Cidr> denied = [] {
    std::vector<policy::Cidr> out;
    for (const auto& block : policy::special_purpose_blocks())
      if (const auto b = policy::Cidr::parse(block.block); b && block.verdict == policy::Verdict::deny) out.push_back(*b);
    return out;
  }();
  return std::any_of(denied.begin(), denied.end(), [&](const policy::Cidr& b) { return b.contains(c->network) && b.contains(last); });
}

// coturn's false for a flag: "0", "off", "no", "false", "f" (a flag without a value is true).
bool is_false(std::string_view v) { return v == "0" || v == "off" || v == "no" || v == "false" || v == "f"; }

// The options whose value is a number, where 0 means something.
bool numeric(std::string_view name) {
  static const std::set<std::string, std::less<>> n = {
      "listening-port", "tls-listening-port", "alt-listening-port", "alt-tls-listening-port", "min-port", "max-port",
      "total-quota", "user-quota", "max-bps", "bps-capacity", "relay-threads", "general-threads", "stale-nonce",
      "max-allocate-lifetime", "channel-lifetime", "permission-lifetime", "prometheus-port", "cli-port",
      "web-admin-port", "max-allocate-timeout", "tcp-proxy-port", "cli-max-output-sessions"};
  return n.count(name) != 0;
}

// What hush does instead, for each coturn option it does not carry over: the reason, noted
// whenever the option appears.
const std::map<std::string, std::string, std::less<>>& dropped() {
  static const std::map<std::string, std::string, std::less<>> m = {
      {"fingerprint", "always on in hush: FINGERPRINT is added when the request carried one"},
      {"lt-cred-mech", "static users come from users-file"},
      {"use-auth-secret", "REST credentials are always on in hush"},
      {"no-multicast-peers", "always: multicast is never a peer in hush"},
      {"no-loopback-peers", "always: loopback is never a peer in hush unless allow-peer names it"},
      {"no-software-attribute", "hush's default: no SOFTWARE attribute"},
      {"no-stdout-log", "hush logs to stderr only (the journal under systemd)"},
      {"log-file", "hush writes nothing to disk: logs go to stderr (the journal under systemd)"},
      {"syslog", "hush logs to stderr; under systemd the journal collects it"},
      {"syslog-facility", "hush logs to stderr; under systemd the journal collects it"},
      {"simple-log", "hush logs to stderr only"},
      {"new-log-timestamp", "hush's log lines always carry an ISO 8601 timestamp"},
      {"new-log-timestamp-format", "hush's log lines always carry an ISO 8601 timestamp"},
      {"log-binding", "hush logs no Binding requests: they would be a record of who asked"},
      {"pidfile", "the service manager tracks the process; hush writes no pid file"},
      {"proc-user", "the systemd unit runs hush as user hush"},
      {"proc-group", "the systemd unit runs hush as group hush"},
      {"daemon", "the service manager runs hush in the background"},
      {"no-cli", "hush has no administrative shell"},
      {"cli-ip", "hush has no administrative shell: it would show sessions and addresses"},
      {"cli-port", "hush has no administrative shell: it would show sessions and addresses"},
      {"cli-password", "hush has no administrative shell: it would show sessions and addresses"},
      {"cli-max-output-sessions", "hush has no administrative shell"},
      {"web-admin", "hush has no web administration: metrics and signals cover operations"},
      {"web-admin-ip", "hush has no web administration"},
      {"web-admin-port", "hush has no web administration"},
      {"web-admin-listen-on-workers", "hush has no web administration"},
      {"acme-redirect", "hush serves no HTTP on its TURN ports; renew certificates elsewhere, SIGHUP re-reads them"},
      {"no-tcp", "TURN over TCP is always on on hush's listen ports"},
      {"no-udp", "UDP is always on on hush's listen ports"},
      {"no-dtls", "DTLS is always on on the UDP side of each tls-listen address"},
      {"no-tcp-relay", "RFC 6062 TCP relay allocations are always available; peers still pass the peer policy"},
      {"no-udp-relay", "UDP relay allocations are always available"},
      {"cipher-list", "hush's suites are fixed: TLS 1.3 (1.2 with padding off) with forward-secret AEAD ciphers"},
      {"ec-curve-name", "hush's key exchange groups are OpenSSL's defaults for TLS 1.3"},
      {"dh-file", "no finite-field Diffie-Hellman in hush: ECDHE only"},
      {"dh566", "no finite-field Diffie-Hellman in hush: ECDHE only"},
      {"dh1066", "no finite-field Diffie-Hellman in hush: ECDHE only"},
      {"no-tlsv1", "TLS 1.0 is never offered by hush"},
      {"no-tlsv1_1", "TLS 1.1 is never offered by hush"},
      {"no-tlsv1_2", "hush speaks TLS 1.3 only while padding is on (the default)"},
      {"CA-file", "hush does not ask clients for certificates"},
      {"pkey-pwd", "hush reads unencrypted keys only: protect the key file with its permissions"},
      {"mobility", "RFC 8016 mobility is not implemented"},
      {"secure-stun", "Binding requests are answered without authentication, within --unauth-rate"},
      {"no-stun", "Binding is what clients use to find their mapped address: always answered"},
      {"stun-only", "hush is always a TURN relay as well"},
      {"no-rfc5780", "hush answers RFC 5780 requests only with other-address"},
      {"response-origin-only-with-rfc5780", "RESPONSE-ORIGIN and OTHER-ADDRESS only with other-address"},
      {"no-stun-backward-compatibility", "hush answers RFC 5389 and later clients only"},
      {"server-name", "hush has no server name"},
      {"check-origin-consistency", "ORIGIN is not checked"},
      {"aux-server", "scale with threads and more relays instead"},
      {"udp-self-balance", "scale with threads and more relays instead"},
      {"redis-statsdb", "statistics about sessions are what hush does not keep"},
      {"bps-capacity", "no total bandwidth limit: limit it in the network, or run more relays"},
      {"channel-lifetime", "fixed at the RFC's 600 s"},
      {"permission-lifetime", "fixed at the RFC's 300 s"},
      {"max-allocate-timeout", "allocations have no separate set-up timeout in hush"},
      {"oauth", "OAuth third-party authorization is not implemented"},
      {"no-auth", "refused: an open relay is abused within hours; hush always authenticates"},
      {"no-auth-pings", "hush sends no pings to databases"},
      {"no-dynamic-ip-list", "hush has no database"},
      {"no-dynamic-realms", "hush has one realm"},
      {"secret-key-file", "hush has no database to encrypt"},
      {"userdb", "export the users as name:0xKEY lines into users-file (turnadmin -l lists them)"},
      {"redis-userdb", "export the users as name:0xKEY lines into users-file (turnadmin -l lists them)"},
      {"psql-userdb", "export the users as name:0xKEY lines into users-file (turnadmin -l lists them)"},
      {"mysql-userdb", "export the users as name:0xKEY lines into users-file (turnadmin -l lists them)"},
      {"mongo-userdb", "export the users as name:0xKEY lines into users-file (turnadmin -l lists them)"},
      {"listening-device", "bind by address with listen"},
      {"relay-device", "bind by address with relay-ip"},
      {"server-relay", "not supported: every relay in hush authenticates its clients"},
      {"tcp-proxy-port", "no proxy protocol listener in hush"},
      {"alt-listening-port", "RFC 5780 needs another address as well: give other-address = \"IP:PORT\""},
      {"alt-tls-listening-port", "no alternate TLS port in hush"},
      {"keep-address-family", "use allocation-default-address-family = \"keep\""},
      {"prometheus-username-labels", "refused: hush's metrics never name a user or an address"},
      {"ne", "no network engine choice in hush"},
      {"version", "not a configuration option"},
      {"sha256", "SHA-256 integrity is negotiated per client (PASSWORD-ALGORITHM), no option needed"},
      {"no-prometheus", "metrics are off unless metrics is set"},
  };
  return m;
}

}  // namespace

CoturnImport import_coturn(std::string_view conf, const CoturnImportOptions& paths) {
  CoturnImport out;
  std::vector<IpAddress> listen_ips;
  long long port = 3478, tls_port = 5349, min_port = 49152, max_port = 65535;
  bool tls_port_given = false, no_tls = false, prometheus = false;
  long long prometheus_port = 9641;
  std::string cert, pkey, realm, log_level;
  std::optional<IpAddress> relay_v4, relay_v6, external_v4, external_v6;
  std::vector<std::string> alternates, allow_peer, deny_peer;
  std::vector<Range> allowed;
  std::vector<std::pair<int, Range>> denied;  // line, range
  std::map<std::string, std::string> scalars;  // TOML key -> value, as written
  std::set<std::string> user_names;
  auto note = [&](int line, std::string_view option, const std::string& why) {
    out.notes.push_back("line " + std::to_string(line) + ": " + std::string(option) + ": " + why);
  };
  auto positive = [&](int line, std::string_view option, std::string_view value, long long lo, long long hi)
      -> std::optional<long long> {
    auto n = integer(value);
    if (!n || *n < lo || *n > hi) {
      note(line, option, "dropped: '" + std::string(value) + "' is not a number from " + std::to_string(lo) + " to " +
                             std::to_string(hi));
      return std::nullopt;
    }
    return n;
  };

  std::istringstream in{std::string(conf)};
  std::string raw;
  int line_no = 0;
  while (std::getline(in, raw)) {
    ++line_no;
    std::string_view line = trim(raw);
    if (line.empty() || line.front() == '#') continue;
    if (line.rfind("--", 0) == 0) line.remove_prefix(2);  // coturn takes "--option" in files too
    std::size_t split = line.find_first_of("= \t");
    const std::string name(trim(line.substr(0, split)));
    std::string value = split == std::string_view::npos ? "" : unquote(line.substr(split + 1));
    if (!value.empty() && value.front() == '=') value = unquote(std::string_view(value).substr(1));
    const int n = line_no;

    if (is_false(value) && !numeric(name)) {
      note(n, name, "set to false: nothing to carry over");
      continue;
    }
    if (auto d = dropped().find(name); d != dropped().end()) {
      note(n, name, d->second);
      if (name == "keep-address-family") scalars["allocation-default-address-family"] = toml_string("keep");
      continue;
    }
    if (name == "listening-port") {
      if (auto v = positive(n, name, value, 1, 65535)) port = *v;
    } else if (name == "tls-listening-port") {
      if (auto v = positive(n, name, value, 0, 65535)) tls_port = *v, tls_port_given = true;
    } else if (name == "dtls-listening-port") {
      note(n, name, "DTLS is on the UDP side of each tls-listen address: the TLS port serves both");
    } else if (name == "listening-ip") {
      if (auto ip = IpAddress::parse(value)) listen_ips.push_back(*ip);
      else note(n, name, "dropped: '" + value + "' is not an IP address");
    } else if (name == "relay-ip") {
      auto ip = IpAddress::parse(value);
      auto& slot = ip && ip->is_v4() ? relay_v4 : relay_v6;
      if (!ip) note(n, name, "dropped: '" + value + "' is not an IP address");
      else if (slot) note(n, name, "dropped " + value + ": hush relays from one address per family");
      else slot = ip;
    } else if (name == "external-ip") {
      const auto slash = value.find('/');
      auto pub = IpAddress::parse(value.substr(0, slash));
      auto priv = slash == std::string::npos ? std::optional<IpAddress>{} : IpAddress::parse(value.substr(slash + 1));
      if (!pub || (slash != std::string::npos && !priv)) {
        note(n, name, "dropped: '" + value + "' is not PUBLIC or PUBLIC/PRIVATE");
        continue;
      }
      auto& slot = pub->is_v4() ? external_v4 : external_v6;
      if (slot) {
        note(n, name, "dropped " + value + ": hush advertises one external address per family");
        continue;
      }
      slot = pub;
      if (priv) {
        auto& relay = priv->is_v4() ? relay_v4 : relay_v6;
        if (!relay) {
          relay = priv;
          note(n, name, "changed: the private address " + priv->to_string() + " becomes relay-ip");
        }
      }
    } else if (name == "min-port") {
      if (auto v = positive(n, name, value, 1, 65535)) min_port = *v;
    } else if (name == "max-port") {
      if (auto v = positive(n, name, value, 1, 65535)) max_port = *v;
    } else if (name == "static-auth-secret") {
      if (value.empty()) {
        note(n, name, "dropped: empty");
      } else {
        out.secrets.push_back(value);
        note(n, name, "moved to the secret file " + paths.secret_file +
                          " (a secret never goes in the config file or on the command line)");
      }
    } else if (name == "user") {
      const auto colon = value.find(':');
      if (colon == std::string::npos || colon == 0 || colon + 1 == value.size()) {
        note(n, name, "dropped: not name:password or name:0xKEY");
      } else if (!user_names.insert(value.substr(0, colon)).second) {
        note(n, name, "dropped: " + value.substr(0, colon) + " is already a user (the first line for a name is kept)");
      } else {
        out.users.push_back(value);
        note(n, name, "moved to the users file " + paths.users_file + " (name:password or name:0xKEY, as in coturn)");
      }
    } else if (name == "rest-api-separator") {
      if (value != ":") note(n, name, "dropped: hush's REST usernames always use ':' (expiry:name)");
      else note(n, name, "hush's default");
    } else if (name == "realm") {
      if (value.empty()) note(n, name, "dropped: empty");
      else realm = value;
    } else if (name == "total-quota") {
      if (auto v = positive(n, name, value, 0, 10000000)) {
        if (*v == 0) note(n, name, "changed: 0 (no limit in coturn) becomes hush's default max-allocations of 100000");
        else scalars["max-allocations"] = std::to_string(*v);
      }
    } else if (name == "user-quota") {
      if (auto v = positive(n, name, value, 0, 10000000)) scalars["user-quota"] = std::to_string(*v);
    } else if (name == "max-bps") {
      if (auto v = positive(n, name, value, 0, 8'000'000'000LL)) {
        const long long bytes = *v / 8;
        if (*v == 0) {
          scalars["bandwidth-cap"] = "0";
        } else if (bytes < 1000) {
          note(n, name, "dropped: " + value + " bits/s is below the 1000 bytes/s where no call fits");
        } else {
          scalars["bandwidth-cap"] = std::to_string(bytes);
          note(n, name, "changed: " + value + " bits/s per session becomes bandwidth-cap = " + std::to_string(bytes) +
                            " bytes/s per allocation and direction");
        }
      }
    } else if (name == "denied-peer-ip" || name == "allowed-peer-ip") {
      auto range = parse_range(value);
      if (!range) {
        note(n, name, "dropped: '" + value + "' is not an address or a range A-B of one family");
        continue;
      }
      if (name == "allowed-peer-ip") {
        allowed.push_back(*range);
        const auto cidrs = cidrs_of(*range);
        allow_peer.insert(allow_peer.end(), cidrs.begin(), cidrs.end());
        if (std::any_of(cidrs.begin(), cidrs.end(), denied_by_default))
          note(n, name, "carried over, and it opens ranges hush denies by default: check that you mean it");
      } else {
        denied.push_back({n, *range});
      }
    } else if (name == "allow-loopback-peers") {
      note(n, name, "dropped as unsafe: it opens the relay's own services to every client; for tests only, "
                    "allow-peer = [\"127.0.0.0/8\"]");
    } else if (name == "relay-threads" || name == "general-threads") {
      if (auto v = positive(n, name, value, 0, 1024)) {
        if (*v == 0) note(n, name, "changed: 0 (coturn's default) becomes hush's threads = 1");
        else scalars["threads"] = std::to_string(*v);
      }
    } else if (name == "alternate-server" || name == "tls-alternate-server") {
      auto ep = Endpoint::parse(value);
      if (!ep) ep = IpAddress::parse(value) ? Endpoint::parse(value + ":3478") : std::nullopt;
      if (!ep) note(n, name, "dropped: '" + value + "' is not IP or IP:PORT");
      else if (name == "tls-alternate-server") note(n, name, "dropped: hush names one alternate for every transport");
      else if (std::any_of(alternates.begin(), alternates.end(), [&](const std::string& a) {
                 return (a.front() == '[') == ep->ip.is_v6();
               }))
        note(n, name, "dropped " + value + ": hush names one alternate per family");
      else {
        alternates.push_back(endpoint(ep->ip, ep->port));
        note(n, name, "changed: hush sends clients there only while draining or full, not round-robin");
      }
    } else if (name == "prometheus") {
      prometheus = true;
      note(n, name, "changed: metrics listen on 127.0.0.1 (coturn: every address); give metrics = \"IP:PORT\" to "
                    "open them wider");
    } else if (name == "prometheus-port") {
      if (auto v = positive(n, name, value, 1, 65535)) prometheus_port = *v;
    } else if (name == "stale-nonce") {
      if (value.empty()) scalars["nonce-lifetime"] = "600";
      else if (auto v = positive(n, name, value, 30, 86400)) scalars["nonce-lifetime"] = std::to_string(*v);
    } else if (name == "max-allocate-lifetime") {
      if (auto v = positive(n, name, value, 60, 86400)) scalars["max-lifetime"] = std::to_string(*v);
    } else if (name == "allocation-default-address-family") {
      if (value == "ipv4" || value == "ipv6" || value == "keep") scalars[name] = toml_string(value);
      else note(n, name, "dropped: '" + value + "' is not ipv4, ipv6 or keep");
    } else if (name == "cert") {
      cert = value;
    } else if (name == "pkey") {
      pkey = value;
    } else if (name == "no-tls") {
      no_tls = true;
      note(n, name, "no tls-listen: and with it no DTLS, which hush serves on the same port");
    } else if (name == "verbose" || name == "v") {
      note(n, name, "hush's default log level (info) already says what a relay does; debug lines carry no address");
    } else if (name == "Verbose" || name == "V") {
      log_level = "debug";
      note(n, name, "changed: log-level = \"debug\" (hush's debug lines carry no address, port or username)");
    } else {
      note(n, name, "unknown coturn option: not carried over");
    }
  }

  // In coturn allowed-peer-ip wins over denied-peer-ip; in hush deny-peer wins over
  // allow-peer. So the allowed addresses are cut out of the denied ranges.
  for (const auto& [line, range] : denied) {
    const auto parts = subtract(range, allowed);
    bool cut = parts.size() != 1 || parts.front().lo != range.lo || parts.front().hi != range.hi;
    std::vector<std::string> more;
    for (const auto& p : parts)
      for (const auto& c : cidrs_of(p))
        if (!denied_by_default(c)) more.push_back(c);
    if (more.size() > 512) {
      note(line, "denied-peer-ip", "dropped: more than 512 blocks once the allowed addresses are cut out");
      continue;
    }
    if (cut)
      note(line, "denied-peer-ip", "changed: the allowed-peer-ip addresses inside it are cut out of it (in coturn "
                                   "allowed-peer-ip wins, in hush deny-peer does)");
    if (more.empty()) note(line, "denied-peer-ip", "already denied by hush's default peer table (docs/security.md)");
    deny_peer.insert(deny_peer.end(), more.begin(), more.end());
  }
  if (listen_ips.empty() && !relay_v4 && !relay_v6) {
    if (auto host = IpAddress::parse(paths.host_ip)) {
      (host->is_v4() ? relay_v4 : relay_v6) = host;
      out.notes.push_back("listening-ip: none given: coturn relays from every address, hush from one: relay-ip = " +
                          host->to_string() + ", an address of this host: check it");
    } else {
      out.notes.push_back("listening-ip: none given: add relay-ip, the address hush relays from");
    }
  }
  if (min_port > max_port) {
    out.notes.push_back("min-port/max-port: dropped: the range is empty; hush's default 49152-65535 stays");
    min_port = 49152, max_port = 65535;
  }

  std::ostringstream t;
  t << "# hush-relay configuration, imported from a coturn turnserver.conf by hush-relay import-coturn.\n"
       "# Check it with: hush-relay --config THIS_FILE --check-config\n";
  if (listen_ips.empty()) {
    listen_ips.push_back(*IpAddress::parse("0.0.0.0"));
    out.notes.push_back("listening-ip: none given: listen on 0.0.0.0 (every IPv4 address, one socket each); add "
                        "[::] to listen for IPv6 as coturn does");
  }
  std::vector<std::string> listen, tls_listen;
  for (const auto& ip : listen_ips) listen.push_back(endpoint(ip, port));
  const bool tls = !no_tls && !cert.empty() && !pkey.empty() && tls_port != 0;
  if (tls) {
    for (const auto& ip : listen_ips) tls_listen.push_back(endpoint(ip, tls_port));
  } else if (!no_tls && (tls_port_given || !cert.empty() || !pkey.empty())) {
    out.notes.push_back("tls-listening-port/cert/pkey: no tls-listen: TLS needs both cert and pkey");
  }
  t << "listen = " << list(listen) << "\n";
  if (tls) t << "tls-listen = " << list(tls_listen) << "\ncert = " << toml_string(cert) << "\nkey = " << toml_string(pkey) << "\n";
  std::vector<std::string> relay_ips, externals;
  for (const auto& ip : {relay_v4, relay_v6})
    if (ip) relay_ips.push_back(ip->to_string());
  for (const auto& ip : {external_v4, external_v6})
    if (ip) externals.push_back(ip->to_string());
  if (!relay_ips.empty()) t << "relay-ip = " << list(relay_ips) << "\n";
  if (!externals.empty()) t << "external-ip = " << list(externals) << "\n";
  if (min_port != 49152 || max_port != 65535)
    t << "relay-ports = " << toml_string(std::to_string(min_port) + "-" + std::to_string(max_port)) << "\n";
  if (!realm.empty()) t << "realm = " << toml_string(realm) << "\n";
  if (!out.secrets.empty()) t << "secret-file = " << toml_string(paths.secret_file) << "\n";
  if (!out.users.empty()) t << "users-file = " << toml_string(paths.users_file) << "\n";
  if (out.secrets.empty() && out.users.empty())
    out.notes.push_back("static-auth-secret: none given: add secret-file (hush makes a secret for each run "
                        "without one, which no application knows)");
  for (const auto& [k, v] : scalars) t << k << " = " << v << "\n";
  if (!allow_peer.empty()) t << "allow-peer = " << list(allow_peer) << "\n";
  if (!deny_peer.empty()) t << "deny-peer = " << list(deny_peer) << "\n";
  if (!alternates.empty()) t << "alternate-server = " << list(alternates) << "\n";
  if (prometheus) t << "metrics = " << toml_string("127.0.0.1:" + std::to_string(prometheus_port)) << "\n";
  if (!log_level.empty()) t << "log-level = " << toml_string(log_level) << "\n";
  out.toml = t.str();
  return out;
}

}  // namespace hush::config
