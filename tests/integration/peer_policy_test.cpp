// The peer policy against a real relay over real sockets, laid out as in production: the
// relayed addresses are non-loopback addresses of a network namespace, and services listen
// on the loopback and on the host's other addresses at the very port numbers the relay's
// allocations hold. Whatever a client asks, none of them may receive a datagram through hush
// (issue #26, faults 1-3), while two users of the relay still reach each other.
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <fstream>
#include <thread>

#include "hush/auth/rest_credential.hpp"
#include "hush/net/udp_socket.hpp"
#include "relay_process.hpp"

using namespace hush;
using namespace hush::test;

namespace {

constexpr std::uint16_t kRelayPorts[] = {61000, 61001};

// A network namespace with loopback up and a veth interface holding two IPv4 and two IPv6
// addresses: the first of each family is the relay's, the second another address of the host.
class Namespace {
 public:
  Namespace() : name_("hush-peers-" + std::to_string(::getpid())) {
    const std::string n = " -n " + name_;
    ok_ = run_command("ip netns add " + name_ + " && ip" + n + " link set lo up && ip" + n +
                      " link add d0 type veth peer name d1 && ip" + n + " link set d0 up && ip" + n + " link set d1 up && ip" + n +
                      " addr add 10.77.3.1/24 dev d0 && ip" + n + " addr add 10.77.3.2/24 dev d0 && ip" + n +
                      " addr add fd77:3::1/64 dev d0 nodad && ip" + n + " addr add fd77:3::2/64 dev d0 nodad")
              .exit_code == 0;
  }
  ~Namespace() { run_command("ip netns del " + name_); }
  bool ok() const { return ok_; }
  const std::string& name() const { return name_; }
  // Runs `f` on a thread that joined the namespace: sockets it opens stay in the namespace.
  template <class F>
  void enter(F f) const {
    std::thread([&] {
      const int fd = ::open(("/var/run/netns/" + name_).c_str(), O_RDONLY);
      if (fd >= 0 && ::setns(fd, CLONE_NEWNET) == 0) f();
      if (fd >= 0) ::close(fd);
    }).join();
  }

 private:
  std::string name_;
  bool ok_ = false;
};

// UDP sockets on the host's other addresses at the relayed port numbers: what an attacker
// would like to reach.
struct Services {
  std::vector<std::pair<Endpoint, int>> sockets;
  explicit Services(const Namespace& ns) {
    ns.enter([&] {
      for (const char* ip : {"127.0.0.1", "127.255.255.254", "10.77.3.2", "::1", "fd77:3::2"})
        for (auto port : kRelayPorts) {
          const Endpoint at{*IpAddress::parse(ip), port};
          auto fd = net::open_udp(at, {});
          if (fd) sockets.emplace_back(at, *fd);
        }
    });
  }
  ~Services() {
    for (auto& [at, fd] : sockets) ::close(fd);
  }
  // The services that received anything, as "address: bytes".
  std::vector<std::string> reached() const {
    std::vector<std::string> out;
    for (const auto& [at, fd] : sockets) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 0) <= 0) continue;
      char buf[2048];
      const auto n = ::recv(fd, buf, sizeof buf, 0);
      out.push_back(at.to_string() + ": " + std::string(buf, n > 0 ? static_cast<std::size_t>(n) : 0));
    }
    return out;
  }
};

struct RelayInNamespace {
  Namespace ns;
  std::string secret_file;
  std::unique_ptr<Process> relay;
  Endpoint server4 = *Endpoint::parse("10.77.3.1:3478");
  Endpoint server6 = *Endpoint::parse("[fd77:3::1]:3478");

  RelayInNamespace() {
    if (!ns.ok()) return;
    char tmpl[] = "/tmp/hush-secret-XXXXXX";
    ::close(::mkstemp(tmpl));
    secret_file = tmpl;
    std::ofstream(secret_file) << "peer-policy-secret\n";
    // No --allow-peer: the defaults, as on a public relay.
    relay = std::make_unique<Process>(
        "ip", std::vector<std::string>{"netns", "exec", ns.name(), HUSH_RELAY_BINARY, "--listen", server4.to_string(),
                                       "--listen", server6.to_string(), "--relay-ip", "10.77.3.1", "--relay-ip",
                                       "fd77:3::1", "--relay-ports", "61000-61001", "--threads", "1",
                                       "--kernel-fastpath", "off", "--secret-file", secret_file,
                                       // the probes of this host below would end in a block
                                       "--block-after", "0"});
  }
  ~RelayInNamespace() {
    relay.reset();
    if (!secret_file.empty()) std::remove(secret_file.c_str());
  }
  std::unique_ptr<TurnClient> client(const std::string& bind_ip, bool ipv6_relay) {
    const std::string user = std::to_string(std::time(nullptr) + 600) + ":peer-policy";
    std::unique_ptr<TurnClient> c;
    ns.enter([&] {
      c = std::make_unique<TurnClient>(ipv6_relay ? server6 : server4, user,
                                       auth::rest_password("peer-policy-secret", user), bind_ip);
    });
    for (int i = 0; i < 20 && !c->allocate(ipv6_relay); ++i)  // the relay may still be starting
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    return c;
  }
};

Endpoint at(const std::string& ip, std::uint16_t port) { return Endpoint{*IpAddress::parse(ip), port}; }

// Every way a client can name `ip`: a permission (any port), a channel (each port) and Send
// indications and ChannelData to each port. All must be refused; returns what was not.
std::vector<std::string> try_every_way(TurnClient& c, const std::string& ip, std::uint16_t& channel) {
  std::vector<std::string> accepted;
  for (std::uint16_t port : {std::uint16_t{0}, std::uint16_t{3478}, kRelayPorts[0], kRelayPorts[1]}) {
    const Endpoint peer = at(ip, port);
    if (c.create_permission(peer) || c.last_error() != 403)
      accepted.push_back("CreatePermission " + peer.to_string() + " -> " + std::to_string(c.last_error()));
    const std::uint16_t number = channel++;
    const bool bound = c.bind_channel(number, peer);
    if (bound || c.last_error() != 403)
      accepted.push_back("ChannelBind " + peer.to_string() + " -> " + std::to_string(c.last_error()));
    c.send_indication(peer, "indication to " + peer.to_string());
    if (bound) c.send_channel(number, "channel to " + peer.to_string());
  }
  return accepted;
}

// Two users of the relay call each other relay-only: permissions with port 0 (RFC 8656 §9:
// the port is ignored), a Send indication one way, a channel the other.
void expect_relay_only_call(TurnClient& a, TurnClient& b) {
  const Endpoint a_any{a.relayed().ip, 0}, b_any{b.relayed().ip, 0};
  ASSERT_TRUE(a.create_permission(b_any)) << a.last_error();
  ASSERT_TRUE(b.create_permission(a_any)) << b.last_error();
  a.send_indication(b.relayed(), "hello b");
  auto got = b.socket().receive(std::chrono::seconds(2));
  ASSERT_TRUE(got);
  auto m = stun::MessageView::parse(*got);
  ASSERT_TRUE(m);
  EXPECT_EQ(as_text(*m->find(stun::attr::data)), "hello b");
  EXPECT_EQ(stun::decode_xor_address(*m->find(stun::attr::xor_peer_address), m->transaction_id_ptr()), a.relayed());
  ASSERT_TRUE(b.bind_channel(0x7000, a.relayed())) << b.last_error();
  b.send_channel(0x7000, "hello a");
  got = a.socket().receive(std::chrono::seconds(2));
  ASSERT_TRUE(got);
  m = stun::MessageView::parse(*got);
  ASSERT_TRUE(m);
  EXPECT_EQ(as_text(*m->find(stun::attr::data)), "hello a");
}

}  // namespace

// Fault 1: with a live relayed port number, the relay permitted every address of 127.0.0.0/8
// and 0.0.0.0/8, :: and ::1 on that port. Fault 2: the SIIT form ::ffff:0:a.b.c.d passed.
TEST(PeerPolicy, NoServiceOnTheRelayHostIsReachedAtARelayedPortNumber) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to create a network namespace";
  RelayInNamespace s;
  ASSERT_TRUE(s.ns.ok());
  Services services(s.ns);
  ASSERT_EQ(services.sockets.size(), 10u);
  auto alice = s.client("10.77.3.2", false), bob = s.client("10.77.3.2", false);
  auto carol = s.client("fd77:3::2", true), dave = s.client("fd77:3::2", true);
  for (auto* c : {alice.get(), bob.get(), carol.get(), dave.get()})
    ASSERT_NE(c->relayed().port, 0) << c->last_error() << "\n" << s.relay->output();
  // Between them the two allocations of each family hold both relayed ports.
  EXPECT_NE(alice->relayed().port, bob->relayed().port);
  EXPECT_EQ(carol->relayed().ip, *IpAddress::parse("fd77:3::1"));

  std::uint16_t channel = 0x4000;
  std::vector<std::string> accepted;
  for (const char* ip : {"127.0.0.1", "127.255.255.254", "0.0.0.0", "0.1.2.3", "10.77.3.2"})
    for (auto& a : try_every_way(*alice, ip, channel)) accepted.push_back(a);
  for (const char* ip : {"::1", "::", "::ffff:127.0.0.1", "::ffff:0:127.0.0.1", "::127.0.0.1", "::ffff:0:10.77.3.1",
                         "64:ff9b::127.0.0.1", "2002:7f00:1::1", "fd77:3::2"})
    for (auto& a : try_every_way(*carol, ip, channel)) accepted.push_back(a);
  EXPECT_TRUE(accepted.empty()) << ::testing::PrintToString(accepted);

  // Users of the relay still call each other, over each family.
  expect_relay_only_call(*alice, *bob);
  expect_relay_only_call(*carol, *dave);

  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_TRUE(services.reached().empty()) << ::testing::PrintToString(services.reached());
  EXPECT_EQ(s.relay->output().find("10.77.3.2"), std::string::npos) << "a client address in the log";
}

// Fault 3: blocks of the IANA special-purpose registries that the default list missed.
TEST(PeerPolicy, TheRegistriesBlocksAreRefusedOverTheWire) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to create a network namespace";
  RelayInNamespace s;
  ASSERT_TRUE(s.ns.ok());
  auto v4 = s.client("10.77.3.2", false);
  auto v6 = s.client("fd77:3::2", true);
  for (const char* p : {"192.31.196.1:53", "192.175.48.1:53", "192.52.193.1:2268", "192.0.0.10:3478"}) {
    EXPECT_FALSE(v4->create_permission(*Endpoint::parse(p))) << p;
    EXPECT_EQ(v4->last_error(), 403) << p;
  }
  for (const char* p : {"[2001:2::1]:9", "[3fff::1]:9", "[5f00::1]:9", "[100:0:0:1::1]:9", "[2620:4f:8000::1]:53",
                        "[2001:20::1]:9", "[2001:4:112::1]:53", "[4000::1]:9"}) {
    EXPECT_FALSE(v6->create_permission(*Endpoint::parse(p))) << p;
    EXPECT_EQ(v6->last_error(), 403) << p;
  }
  // A global unicast peer next to them is permitted: the refusals are the table's, not a
  // family mismatch or a broken allocation.
  EXPECT_TRUE(v4->create_permission(*Endpoint::parse("192.31.197.1:53"))) << v4->last_error();
  EXPECT_TRUE(v6->create_permission(*Endpoint::parse("[2620:4f:8001::1]:53"))) << v6->last_error();
}
