// The command line: bad values exit 2 naming the option; the credential subcommand; config files.
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "hush/auth/rest_credential.hpp"
#include "relay_process.hpp"

using namespace hush;
using namespace hush::test;

namespace {
CommandResult relay(const std::string& args) { return run_command(std::string("timeout 10 ") + HUSH_RELAY_BINARY + " " + args); }
}  // namespace

TEST(CommandLine, BadValuesExitTwoNamingTheOption) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--listen nonsense", "--listen"},
      {"--listen 127.0.0.1:0", "--listen"},
      {"--relay-ports 6000-5000", "--relay-ports"},
      {"--relay-ports 100-200", "--relay-ports"},
      {"--relay-ports 3000-4000", "--relay-ports"},  // holds the listening port 3478
      {"--threads many", "--threads"},
      {"--allow-peer 10.0.0.0/99", "--allow-peer"},
      {"--deny-peer banana", "--deny-peer"},
      {"--peer-relay 10.1.2.0/24", "--peer-relay"},  // without --relay-to-relay-only
      {"--relay-to-relay-only --peer-relay banana", "--peer-relay"},
      {"--log-level loud", "--log-level"},
      {"--max-lifetime 5", "--max-lifetime"},
      {"--relay-ip 0.0.0.0", "--relay-ip"},
      {"--listen 0.0.0.0:3478", "--relay-ip"},
      {"--secret-file /nonexistent/secret", "--secret-file"},
      {"--users-file /nonexistent/users", "--users-file"},
      {"--users-file /etc/hostname", "--users-file"},  // no name:password line
      {"--check-config --users-file /etc/hostname", "--users-file"},
      {"--no-such-option", "--no-such-option"},
      {"--metrics nowhere", "--metrics"},
      {"--metrics 192.0.2.99:9641", "--metrics"},  // not an address of this host
      {"--alternate-server 0.0.0.0:3478", "--alternate-server"},
      {"--alternate-server 192.0.2.1:3478 --alternate-server 192.0.2.2:3478", "--alternate-server"},
      {"--bandwidth-cap 10", "--bandwidth-cap"},
      {"--source-quota -1", "--source-quota"},
      {"--drain-timeout forever", "--drain-timeout"},
      {"--padding fixed:5", "--padding"},
      {"--padding round:64", "--padding"},
      {"--smoothing 20", "--smoothing"},
      {"--smoothing 0ms", "--smoothing"},
      {"--smoothing 5000ms", "--smoothing"},
      {"--cover", "--cover"},                     // without --smoothing
      {"--smoothing 20ms --cover", "--cover"},    // without --tls-listen
      {"--api 127.0.0.1:9650", "--api-key-file"},
      {"--api-uri http://example.org", "--api-uri"},
      {"--api-ttl 7200", "--api-ttl"},  // above --api-max-ttl
      {"--api 127.0.0.1:9650 --api-key-file /nonexistent/keys", "--api-key-file"},
      {"--kernel-fastpath maybe", "--kernel-fastpath"},
      {"--allocation-default-address-family ipv5", "--allocation-default-address-family"},
      {"--kernel-fastpath-entries 0", "--kernel-fastpath-entries"},
      {"--udp-gso maybe", "--udp-gso"},
      {"--other-address nonsense", "--other-address"},
      {"--other-address 127.0.0.1:3479", "--other-address"},   // the listen address's own IP
      {"--other-address 127.0.0.2:3478", "--other-address"},   // and port
      {"--other-address [::1]:3479", "--other-address"},       // no IPv6 --listen to pair with
      {"--other-address 192.0.2.99:3479", "--other-address"},  // not an address of this host
  };
  for (const auto& [args, option] : cases) {
    auto r = relay(args);
    EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.output;
    EXPECT_NE(r.output.find(option), std::string::npos) << args << "\n" << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << args << "\n" << r.output;
  }
}

TEST(CommandLine, HelpListsEveryOption) {
  auto r = relay("--help");
  EXPECT_EQ(r.exit_code, 0);
  for (const char* opt : {"--listen", "--relay-ip", "--external-ip", "--relay-ports", "--realm", "--secret-file",
                          "--threads", "--allow-peer", "--deny-peer", "--log-level", "--config"})
    EXPECT_NE(r.output.find(opt), std::string::npos) << opt;
}

// docs/configuration.md documents every option the binary has, and nothing it lacks.
TEST(CommandLine, EveryOptionIsInConfigurationMd) {
  std::set<std::string> in_help;
  for (const char* cmd : {"--help", "credential --help", "import-coturn --help"}) {
    const std::string help = relay(cmd).output;
    const std::regex option(R"((^|[\s,])(--[a-z][a-z0-9-]+))");
    for (auto it = std::sregex_iterator(help.begin(), help.end(), option); it != std::sregex_iterator(); ++it)
      in_help.insert((*it)[2]);
  }
  ASSERT_GT(in_help.size(), 25u);
  std::ifstream in(std::string(HUSH_SOURCE_DIR) + "/docs/configuration.md");
  std::stringstream doc;
  doc << in.rdbuf();
  const std::string text = doc.str();
  std::set<std::string> documented;
  const std::regex row(R"(\n\| `(--[a-z][a-z0-9-]+))");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), row); it != std::sregex_iterator(); ++it)
    documented.insert((*it)[1]);
  for (const auto& o : in_help) EXPECT_TRUE(documented.count(o)) << o << " is not in docs/configuration.md";
  for (const auto& o : documented) EXPECT_TRUE(in_help.count(o)) << o << " is documented but hush-relay has no such option";
}

TEST(CommandLine, CredentialSubcommandMintsAnAnonymousWorkingCredential) {
  Relay server;
  auto r = relay("credential --secret-file " + server.secret_file + " --ttl 300 --listen " + server.endpoint().to_string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.output, m,
                                std::regex(R"re(^\{"username":"(\d+):([A-Za-z0-9_-]{12})","password":"([^"]+)","ttl":300,"uris":\["turn:127\.0\.0\.1:(\d+)\?transport=udp","turn:127\.0\.0\.1:\4\?transport=tcp"\]\})re")))
      << r.output;
  const std::string username = std::string(m[1]) + ":" + std::string(m[2]);
  EXPECT_NEAR(std::stol(m[1]), std::time(nullptr) + 300, 5);
  EXPECT_EQ(std::string(m[3]), auth::rest_password(server.secret, username));
  TurnClient client(server.endpoint(), username, m[3]);
  EXPECT_TRUE(client.allocate()) << client.last_error();
}

TEST(CommandLine, ConfigFileKeysAreTheLongOptionNames) {
  char path[] = "/tmp/hush-config-XXXXXX.toml";
  int fd = mkstemps(path, 5);
  ::close(fd);
  std::ofstream(path) << "listen = [\"127.0.0.1:3478\"]\nrelay-ports = \"9-8\"\n";
  auto r = relay(std::string("--config ") + path);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--relay-ports"), std::string::npos) << r.output;
  std::remove(path);
}

TEST(CommandLine, DefaultRunPrintsACredentialThatWorks) {
  const auto port = free_udp_port();
  Process p(HUSH_RELAY_BINARY, {"--listen", "127.0.0.1:" + std::to_string(port), "--relay-ports", "61000-64999"});
  std::smatch m;
  std::string out;
  for (int i = 0; i < 100 && !std::regex_search(out, m, std::regex(R"(username: (\S+)  password: (\S+))")); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    out = p.output();
  }
  ASSERT_EQ(m.size(), 3u) << out;
  EXPECT_NE(out.find("turn:127.0.0.1:" + std::to_string(port) + "?transport=udp"), std::string::npos);
  TurnClient client(*Endpoint::parse("127.0.0.1:" + std::to_string(port)), m[1], m[2]);
  EXPECT_TRUE(client.allocate()) << client.last_error();
  EXPECT_EQ(p.stop(), 0);  // SIGINT: stops at once, exit 0
}

// A second relay process on an address another socket of the same user holds with
// SO_REUSEPORT (an instance already running, as older relays bound their listeners) is
// refused at start, naming --listen: Linux would otherwise let it join the port and hand it
// a share of the first one's clients (UDP by source address, TCP connections at random).
TEST(CommandLine, AListenAddressAnotherProcessHoldsIsRefused) {
  for (const int type : {SOCK_DGRAM, SOCK_STREAM}) {
    const auto port = free_udp_port();
    const int held = ::socket(AF_INET, type, 0);
    const int one = 1;
    ::setsockopt(held, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    ::setsockopt(held, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    const sockaddr_in at = loopback(port);
    ASSERT_EQ(::bind(held, reinterpret_cast<const sockaddr*>(&at), sizeof at), 0);
    if (type == SOCK_STREAM) {
      ASSERT_EQ(::listen(held, 8), 0);
    }
    auto r = relay("--listen 127.0.0.1:" + std::to_string(port) + " --relay-ports 61000-64999 --threads 2");
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find("--listen"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("Address already in use"), std::string::npos) << r.output;
    ::close(held);
  }
  // Its own workers still share each address (the kernel spreads sources among them).
  Relay two({"--threads", "2"});
  for (int i = 0; i < 8; ++i) {
    LiveCall call(two);
    EXPECT_TRUE(call.works()) << "call " << i;
  }
}

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Imports `conf` (its cert and pkey pointed at a test certificate) into a temporary directory
// with the secrets written, and checks what every import must do: exit 0, no secret on stdout
// or stderr, the secret files 0600, a note or a TOML key for every option line, and a result
// that `--check-config` accepts. Returns the notes.
std::string import_and_check(const std::string& conf_text, const std::string& name) {
  const auto cert = make_test_certificate();
  const std::string dir = cert.cert.substr(0, cert.cert.rfind('/'));
  std::string text = std::regex_replace(conf_text, std::regex(R"((^|\n)cert=[^\n]*)"), "$1cert=" + cert.cert);
  text = std::regex_replace(text, std::regex(R"((^|\n)pkey=[^\n]*)"), "$1pkey=" + cert.key);
  const std::string conf = dir + "/turnserver.conf";
  std::ofstream(conf) << text;
  // A subshell: run_command sends stderr to stdout after the command's own redirections.
  auto r = run_command(std::string("(timeout 10 ") + HUSH_RELAY_BINARY + " import-coturn " + conf + " --secret-file " +
                       dir + "/secret --users-file " + dir + "/users --write-secrets > " + dir + "/hush.toml 2> " + dir +
                       "/notes)");
  EXPECT_EQ(r.exit_code, 0) << name << ": " << read_file(dir + "/notes");
  const std::string toml = read_file(dir + "/hush.toml"), notes = read_file(dir + "/notes");
  // Secrets and passwords go to their files and nowhere else.
  std::smatch m;
  for (auto it = text.cbegin(); std::regex_search(it, text.cend(), m, std::regex(R"((?:^|\n)static-auth-secret=([^\n]+))"));
       it = m[0].second) {
    EXPECT_EQ(toml.find(m[1]), std::string::npos) << name;
    EXPECT_EQ(notes.find(m[1]), std::string::npos) << name;
    EXPECT_NE(read_file(dir + "/secret").find(m[1]), std::string::npos) << name;
  }
  for (const char* f : {"/secret", "/users"}) {
    struct stat st{};
    if (::stat((dir + f).c_str(), &st) == 0) {
      EXPECT_EQ(st.st_mode & 0777, 0600u) << name << f;
    }
  }
  // Every option line is carried over (its option names a TOML key's source) or noted.
  static const std::set<std::string> carried = {
      "listening-ip", "listening-port", "tls-listening-port", "relay-ip", "external-ip", "min-port", "max-port",
      "realm", "cert", "pkey", "total-quota", "user-quota", "relay-threads", "stale-nonce", "max-allocate-lifetime",
      "allocation-default-address-family", "allowed-peer-ip", "denied-peer-ip", "prometheus-port", "max-bps"};
  std::istringstream lines(text);
  int n = 0;
  for (std::string line; std::getline(lines, line);) {
    ++n;
    if (line.empty() || line[0] == '#') continue;
    const std::string option = line.substr(0, line.find_first_of("= "));
    if (carried.count(option)) continue;
    EXPECT_NE(notes.find("line " + std::to_string(n) + ": " + option + ":"), std::string::npos)
        << name << ": nothing said about line " << n << ": " << option;
  }
  auto check = relay("--config " + dir + "/hush.toml --check-config");
  EXPECT_EQ(check.exit_code, 0) << name << ": " << check.output << "\n" << toml;
  return notes;
}

}  // namespace

// The configurations that application installers and guides write (tests/data/coturn/).
TEST(ImportCoturn, ApplicationConfigsImportAndPassCheckConfig) {
  for (const char* name : {"synapse", "nextcloud-talk", "jitsi-meet", "bigbluebutton"}) {
    const std::string notes =
        import_and_check(read_file(std::string(HUSH_SOURCE_DIR) + "/tests/data/coturn/" + name + ".conf"), name);
    if (std::string(name) == "jitsi-meet") {
      EXPECT_NE(notes.find("dh2066: unknown coturn option"), std::string::npos);
    }
    if (std::string(name) == "bigbluebutton") {
      EXPECT_NE(notes.find("denied-peer-ip: changed: the allowed-peer-ip addresses inside it are cut out"),
                std::string::npos);
    }
  }
}

// Debian's coturn example, with every option in it switched on: every one is known to the
// importer (none reported unknown), and what comes out is a valid hush configuration.
TEST(ImportCoturn, DebiansExampleWithEveryOptionOn) {
  const std::string example = read_file("/usr/share/doc/coturn/examples/etc/turnserver.conf");
  ASSERT_FALSE(example.empty()) << "coturn's example is missing: deploy/install-deps.sh test installs coturn";
  const std::string all = std::regex_replace(example, std::regex(R"((^|\n)# ?([A-Za-z][A-Za-z0-9_-]*(=[^ \n]*)?) *(?=\n))"),
                                             "$1$2");
  const std::string notes = import_and_check(all, "Debian's example");
  EXPECT_EQ(notes.find("unknown coturn option"), std::string::npos) << notes;
  EXPECT_NE(notes.find("no-auth: refused"), std::string::npos);
  EXPECT_NE(notes.find("allow-loopback-peers: dropped as unsafe"), std::string::npos);
}

TEST(ImportCoturn, AMissingFileExitsTwoAndExistingSecretFilesAreNotOverwritten) {
  EXPECT_EQ(relay("import-coturn /nonexistent/turnserver.conf").exit_code, 2);
  const auto cert = make_test_certificate();
  const std::string dir = cert.cert.substr(0, cert.cert.rfind('/'));
  std::ofstream(dir + "/turnserver.conf") << "use-auth-secret\nstatic-auth-secret=from-coturn\n";
  std::ofstream(dir + "/secret") << "already-here\n";
  auto r = relay("import-coturn " + dir + "/turnserver.conf --secret-file " + dir + "/secret --write-secrets");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("not overwritten"), std::string::npos) << r.output;
  EXPECT_EQ(read_file(dir + "/secret"), "already-here\n");
}
