// The command line: bad values exit 2 naming the option; the credential subcommand; config files.
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
  for (const char* cmd : {"--help", "credential --help"}) {
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
