// How the TURN core hands established channels to a kernel fast path (--kernel-fastpath)
// without knowing about BPF: it says which flows may be forwarded below it and when they stop.
// The fastpath module implements it with BPF maps; tests with a fake.
#pragma once

#include <cstdint>

#include "hush/base/address.hpp"

namespace hush::turn {

// One channel of one UDP allocation: ChannelData from `client` to `server` on `channel` leaves
// from `relay` to `peer` as plain UDP, and UDP from `peer` to `relay` leaves from `server` to
// `client` as ChannelData on `channel`.
struct KernelFlow {
  Endpoint client;
  Endpoint server;  // the listener's address, as the client sends to it
  std::uint16_t channel = 0;
  Endpoint relay;   // the relayed socket's bound address
  Endpoint peer;
  friend bool operator==(const KernelFlow&, const KernelFlow&) = default;
};

class KernelPath {
 public:
  virtual ~KernelPath() = default;
  // False when the kernel cannot take the flow (its table is full): it stays in user space.
  virtual bool install(const KernelFlow& flow) = 0;
  virtual void remove(const KernelFlow& flow) = 0;
  // A relayed address closed. Flows of any allocation that send to it leave the kernel: the
  // port may next belong to someone else (the peer policy's "live relayed ports" exception).
  virtual void relay_closed(const Endpoint& relay) = 0;
};

}  // namespace hush::turn
