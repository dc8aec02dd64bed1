// hush-relay import-coturn's translation, option by option: what is carried over, what is
// changed and noted, what is refused, and that no secret reaches the config text.
#include <gtest/gtest.h>

#include <algorithm>

#include "hush/config/coturn_import.hpp"

using namespace hush::config;

namespace {

bool has_note(const CoturnImport& r, const std::string& part) {
  return std::any_of(r.notes.begin(), r.notes.end(), [&](const std::string& n) { return n.find(part) != std::string::npos; });
}
bool has_line(const CoturnImport& r, const std::string& line) { return r.toml.find(line + "\n") != std::string::npos; }

}  // namespace

TEST(CoturnImport, ListenRelayExternalAndPortsCarryOver) {
  const auto r = import_coturn(
      "listening-ip=203.0.113.10\nlistening-ip=2001:db8::10\nlistening-port=3479\nrelay-ip=203.0.113.10\n"
      "external-ip=198.51.100.7/203.0.113.10\nmin-port=50000\nmax-port=50999\nrealm=turn.example.org\n");
  EXPECT_TRUE(has_line(r, R"(listen = ["203.0.113.10:3479", "[2001:db8::10]:3479"])")) << r.toml;
  EXPECT_TRUE(has_line(r, R"(relay-ip = ["203.0.113.10"])")) << r.toml;
  EXPECT_TRUE(has_line(r, R"(external-ip = ["198.51.100.7"])")) << r.toml;
  EXPECT_TRUE(has_line(r, R"(relay-ports = "50000-50999")")) << r.toml;
  EXPECT_TRUE(has_line(r, R"(realm = "turn.example.org")")) << r.toml;
  EXPECT_TRUE(r.notes.empty() || !has_note(r, "unknown")) << r.notes.front();
}

TEST(CoturnImport, ThePrivateHalfOfExternalIpBecomesTheRelayAddress) {
  const auto r = import_coturn("listening-ip=10.0.0.5\nexternal-ip=198.51.100.7/10.0.0.5\n");
  EXPECT_TRUE(has_line(r, R"(relay-ip = ["10.0.0.5"])")) << r.toml;
  EXPECT_TRUE(has_note(r, "line 2: external-ip: changed")) << r.toml;
}

TEST(CoturnImport, SecretsAndUsersGoToTheirFilesNeverIntoTheConfig) {
  CoturnImportOptions o;
  o.secret_file = "/srv/hush/secret";
  o.users_file = "/srv/hush/users";
  const auto r = import_coturn(
      "use-auth-secret\nstatic-auth-secret=s3cr3t-value\nlt-cred-mech\nuser=alice:pa55word\n"
      "user=bob:0xbc4a3a5c1fa8a0cd9d13ad6a2ac3b0b9\n",
      o);
  EXPECT_EQ(r.secrets, std::vector<std::string>{"s3cr3t-value"});
  EXPECT_EQ(r.users, (std::vector<std::string>{"alice:pa55word", "bob:0xbc4a3a5c1fa8a0cd9d13ad6a2ac3b0b9"}));
  EXPECT_TRUE(has_line(r, R"(secret-file = "/srv/hush/secret")")) << r.toml;
  EXPECT_TRUE(has_line(r, R"(users-file = "/srv/hush/users")")) << r.toml;
  EXPECT_EQ(r.toml.find("s3cr3t"), std::string::npos);
  EXPECT_EQ(r.toml.find("pa55word"), std::string::npos);
  for (const auto& n : r.notes) {
    EXPECT_EQ(n.find("s3cr3t"), std::string::npos) << n;
    EXPECT_EQ(n.find("pa55word"), std::string::npos) << n;
  }
}

// Found by the coturn_import fuzz target (its check then mistook this for a leak): a secret
// that reads like a piece of config goes to the secret file like any other, and changing it
// changes nothing in the text.
TEST(CoturnImport, ASecretThatLooksLikeConfigTextIsMovedOutToo) {
  const std::string conf = "listening-port=3478\nuse-auth-secret\nstatic-auth-secret=n = [\"0.0.0.0:3478\"]\n";
  const auto r = import_coturn(conf);
  EXPECT_EQ(r.secrets, std::vector<std::string>{R"(n = ["0.0.0.0:3478"])"});
  EXPECT_TRUE(has_line(r, R"(listen = ["0.0.0.0:3478"])")) << r.toml;
  std::string other = conf;
  other.replace(other.find("n = "), 20, std::string(20, 'Z'));
  EXPECT_EQ(import_coturn(other).toml, r.toml);
}

TEST(CoturnImport, PeerRangesBecomeCidrsAndWhatHushDeniesAnywayIsSaidSo) {
  const auto r = import_coturn(
      "denied-peer-ip=83.166.64.0-83.166.95.255\ndenied-peer-ip=10.0.0.0-10.255.255.255\n"
      "denied-peer-ip=fc00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff\nallowed-peer-ip=83.166.68.45\n"
      "denied-peer-ip=8.8.8.0-8.8.9.255\n");
  // coturn's allowed-peer-ip wins over its denied ranges; hush's deny-peer wins, so the
  // allowed address is cut out of the range around it.
  EXPECT_TRUE(has_line(r, R"(allow-peer = ["83.166.68.45/32"])")) << r.toml;
  EXPECT_NE(r.toml.find(R"(deny-peer = ["83.166.64.0/22", "83.166.68.0/27", )"), std::string::npos) << r.toml;
  EXPECT_NE(r.toml.find(R"("83.166.68.44/32", "83.166.68.46/31", )"), std::string::npos) << r.toml;
  EXPECT_NE(r.toml.find(R"("8.8.8.0/23"])"), std::string::npos) << r.toml;
  EXPECT_EQ(r.toml.find("10.0.0.0"), std::string::npos) << r.toml;
  EXPECT_EQ(r.toml.find("fc00"), std::string::npos) << r.toml;
  EXPECT_TRUE(has_note(r, "line 1: denied-peer-ip: changed: the allowed-peer-ip addresses inside it are cut out"));
  EXPECT_TRUE(has_note(r, "line 2: denied-peer-ip: already denied by hush's default peer table"));
  EXPECT_TRUE(has_note(r, "line 3: denied-peer-ip: already denied by hush's default peer table"));
}

TEST(CoturnImport, BandwidthQuotasThreadsAndLifetimesAreConverted) {
  const auto r = import_coturn(
      "max-bps=1000000\ntotal-quota=1200\nuser-quota=12\nrelay-threads=4\nstale-nonce=300\n"
      "max-allocate-lifetime=1800\nalternate-server=192.0.2.11:3478\nprometheus\nallocation-default-address-family=ipv6\n");
  EXPECT_TRUE(has_line(r, "bandwidth-cap = 125000")) << r.toml;  // bits/s to bytes/s
  EXPECT_TRUE(has_line(r, "max-allocations = 1200")) << r.toml;
  EXPECT_TRUE(has_line(r, "user-quota = 12")) << r.toml;
  EXPECT_TRUE(has_line(r, "threads = 4")) << r.toml;
  EXPECT_TRUE(has_line(r, "nonce-lifetime = 300")) << r.toml;
  EXPECT_TRUE(has_line(r, "max-lifetime = 1800")) << r.toml;
  EXPECT_TRUE(has_line(r, R"(alternate-server = ["192.0.2.11:3478"])")) << r.toml;
  EXPECT_TRUE(has_line(r, R"(metrics = "127.0.0.1:9641")")) << r.toml;
  EXPECT_TRUE(has_line(r, R"(allocation-default-address-family = "ipv6")")) << r.toml;
  EXPECT_TRUE(has_note(r, "line 1: max-bps: changed"));
  EXPECT_TRUE(has_note(r, "line 8: prometheus: changed: metrics listen on 127.0.0.1"));
}

TEST(CoturnImport, TlsNeedsBothFilesAndNoTlsTurnsItOff) {
  auto r = import_coturn("listening-ip=192.0.2.1\ntls-listening-port=443\ncert=/c.pem\npkey=/k.pem\n");
  EXPECT_TRUE(has_line(r, R"(tls-listen = ["192.0.2.1:443"])")) << r.toml;
  EXPECT_TRUE(has_line(r, R"(cert = "/c.pem")")) << r.toml;
  EXPECT_TRUE(has_line(r, R"(key = "/k.pem")")) << r.toml;
  r = import_coturn("listening-ip=192.0.2.1\ncert=/c.pem\npkey=/k.pem\nno-tls\n");
  EXPECT_EQ(r.toml.find("tls-listen"), std::string::npos) << r.toml;
  r = import_coturn("listening-ip=192.0.2.1\ncert=/c.pem\n");
  EXPECT_EQ(r.toml.find("tls-listen"), std::string::npos) << r.toml;
  EXPECT_TRUE(has_note(r, "TLS needs both cert and pkey"));
}

TEST(CoturnImport, UnsafeUnknownAndFalseOptionsAreNotedNeverSilentlyDropped) {
  const auto r = import_coturn(
      "no-auth\nallow-loopback-peers\ndh2066\nfingerprint=false\nverbose\nlog-file=/var/log/turn.log\ncli-password=x\n"
      "# a comment\n\n  --no-tls=0\n");
  EXPECT_TRUE(has_note(r, "line 1: no-auth: refused"));
  EXPECT_TRUE(has_note(r, "line 2: allow-loopback-peers: dropped as unsafe"));
  EXPECT_TRUE(has_note(r, "line 3: dh2066: unknown coturn option"));
  EXPECT_TRUE(has_note(r, "line 4: fingerprint: set to false"));
  EXPECT_TRUE(has_note(r, "line 5: verbose:"));
  EXPECT_TRUE(has_note(r, "line 6: log-file: hush writes nothing to disk"));
  EXPECT_TRUE(has_note(r, "line 7: cli-password:"));
  EXPECT_TRUE(has_note(r, "line 10: no-tls: set to false"));
  EXPECT_EQ(r.toml.find("127.0.0.0"), std::string::npos);
}

TEST(CoturnImport, WithoutListeningIpHushListensEverywhereAndRelaysFromTheHostsAddress) {
  CoturnImportOptions o;
  o.host_ip = "192.0.2.44";
  auto r = import_coturn("listening-port=3478\n", o);
  EXPECT_TRUE(has_line(r, R"(listen = ["0.0.0.0:3478"])")) << r.toml;
  EXPECT_TRUE(has_line(r, R"(relay-ip = ["192.0.2.44"])")) << r.toml;
  r = import_coturn("listening-port=3478\n");
  EXPECT_EQ(r.toml.find("relay-ip"), std::string::npos) << r.toml;
  EXPECT_TRUE(has_note(r, "add relay-ip"));
}

TEST(CoturnImport, BadValuesAreNamedAndLeaveHushsDefaults) {
  const auto r = import_coturn("listening-port=99999\nmin-port=60000\nmax-port=50000\nrelay-ip=not-an-ip\n"
                               "denied-peer-ip=10.0.0.9-10.0.0.1\nmax-bps=100\n");
  EXPECT_TRUE(has_note(r, "line 1: listening-port: dropped: '99999'"));
  EXPECT_TRUE(has_note(r, "min-port/max-port: dropped: the range is empty"));
  EXPECT_TRUE(has_note(r, "line 4: relay-ip: dropped"));
  EXPECT_TRUE(has_note(r, "line 5: denied-peer-ip: dropped"));
  EXPECT_TRUE(has_note(r, "line 6: max-bps: dropped"));
  EXPECT_EQ(r.toml.find("relay-ports"), std::string::npos) << r.toml;
}
