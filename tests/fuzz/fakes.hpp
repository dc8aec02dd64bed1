// Socket-less stand-ins for the TURN core's ports, RFC 6062 host and kernel fast path, shared
// by the fuzz targets that drive a whole turn::Server. Each checks what the core asks of it.
#pragma once

#include <map>
#include <optional>
#include <vector>

#include "hush/turn/server.hpp"

namespace hush::fuzz {


// Handles are small numbers, as the relay's (descriptors) are: the core indexes a table by
// them. UDP sockets take 1-4095, TCP listeners 4096 on.
constexpr std::uint32_t kTcpHandles = 4096;

class Ports : public turn::RelayPortAllocator {
 public:
  std::map<std::uint32_t, turn::RelaySocket> open_sockets;
  std::uint32_t next = 1;
  std::optional<turn::RelaySocket> open(Family f, bool, bool) override {
    if (open_sockets.size() > 64 || next + 1 >= kTcpHandles) return std::nullopt;
    return add(f);
  }
  std::optional<std::pair<turn::RelaySocket, turn::RelaySocket>> open_pair(Family f, bool) override {
    if (open_sockets.size() > 64 || next + 2 >= kTcpHandles) return std::nullopt;
    auto a = add(f);
    return std::make_pair(a, add(f));
  }
  bool adopt(const turn::RelaySocket& s) override {
    open_sockets[s.handle] = s;
    return true;
  }
  void close(std::uint32_t h) override { open_sockets.erase(h); }
  void discard(const turn::RelaySocket& s) override { open_sockets.erase(s.handle); }

 private:
  turn::RelaySocket add(Family f) {
    turn::RelaySocket s{next++, Endpoint{f == Family::v4 ? *IpAddress::parse("198.51.100.1") : *IpAddress::parse("2001:db8::1"),
                                         static_cast<std::uint16_t>(50000 + next % 10000)}};
    open_sockets[s.handle] = s;
    return s;
  }
};

// RFC 6062 without sockets: connections succeed or fail when the input says so.
class TcpHost : public turn::TcpRelayHost {
 public:
  std::map<std::uint32_t, turn::RelaySocket> listeners;
  std::map<std::uint32_t, bool> connections;  // alive, by id: bound or not
  std::vector<std::uint32_t> connecting;
  std::uint32_t next = kTcpHandles;
  std::optional<turn::RelaySocket> listen(Family f, std::string_view) override {
    if (listeners.size() > 64) return std::nullopt;
    turn::RelaySocket s{next++, Endpoint{f == Family::v4 ? *IpAddress::parse("198.51.100.1") : *IpAddress::parse("2001:db8::1"),
                                         static_cast<std::uint16_t>(40000 + next % 10000)}};
    listeners[s.handle] = s;
    return s;
  }
  void close_listener(std::uint32_t h) override { listeners.erase(h); }
  std::optional<std::uint32_t> connect(std::uint32_t h, const Endpoint&, std::string_view) override {
    if (!listeners.contains(h)) __builtin_trap();  // the core names only listeners it was given
    const std::uint32_t id = next++;
    connections[id] = false;
    connecting.push_back(id);
    return id;
  }
  bool bind(const turn::FiveTuple&, std::uint32_t id, std::string_view) override {
    auto it = connections.find(id);
    if (it == connections.end() || it->second) return false;
    it->second = true;
    return true;
  }
  void close_connection(std::uint32_t id) override { connections.erase(id); }
  bool alive(std::uint32_t id) const override { return connections.contains(id); }
};

// --kernel-fastpath without a kernel: checks that the core never installs a flow twice, never
// removes one it did not install, and removes every one by the time it is destroyed.
class Kernel : public turn::KernelPath {
 public:
  std::vector<turn::KernelFlow> flows;
  bool install(const turn::KernelFlow& f) override {
    for (const auto& g : flows)
      if (g == f) __builtin_trap();
    if (flows.size() >= 8) return false;  // a small table: full is a case too
    flows.push_back(f);
    return true;
  }
  void remove(const turn::KernelFlow& f) override {
    for (auto it = flows.begin(); it != flows.end(); ++it) {
      if (*it == f) {
        flows.erase(it);
        return;
      }
    }
    __builtin_trap();
  }
  void relay_closed(const Endpoint&) override {}
  ~Kernel() override {
    if (!flows.empty()) __builtin_trap();
  }
};


}  // namespace hush::fuzz
