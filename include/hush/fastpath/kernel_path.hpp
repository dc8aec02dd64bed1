// --kernel-fastpath: the eBPF program of relay/fastpath/hush_fastpath.bpf.c, loaded and
// attached at tcx ingress of the interfaces that carry the relay's addresses, and the user-space
// mirror of its two maps. The TURN core says which flows go in (turn::KernelPath); this class
// turns that into map entries, and reads the kernel's per-entry counters for metrics.
// Thread-safe: every worker calls it on the control path (ChannelBind, expiry, deletion).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "hush/base/address.hpp"
#include "hush/base/result.hpp"
#include "hush/turn/kernel_path.hpp"

struct hush_fastpath;  // the generated skeleton

namespace hush::fastpath {

struct Options {
  std::size_t entries = 65536;  // flows per direction; a full table keeps new flows in user space
  enum class Pad { off, block, fixed } pad = Pad::off;  // ChannelData to clients (--padding-udp)
  std::uint16_t pad_size = 0;
};

struct Totals {
  std::uint64_t to_peer_packets = 0, to_peer_bytes = 0;      // payload bytes
  std::uint64_t to_client_packets = 0, to_client_bytes = 0;
  std::uint64_t flows = 0;             // channels in the kernel now
  std::uint64_t install_failures = 0;  // flows the kernel could not take (table full)
};

// What one flow's entry in the kernel has counted, by direction.
struct FlowCounters {
  std::uint64_t to_peer_packets = 0, to_peer_bytes = 0, to_client_packets = 0, to_client_bytes = 0;
};

class BpfKernelPath final : public turn::KernelPath {
 public:
  // Loads the program and attaches it to every interface holding one of `addresses` (and to
  // loopback for loopback addresses). Fails with a reason: built without eBPF, no privileges,
  // kernel without BTF or tcx, an address on no interface.
  static Result<std::unique_ptr<BpfKernelPath>, std::string> open(const Options& options,
                                                                  const std::vector<IpAddress>& addresses);
  ~BpfKernelPath() override;  // detaches; the kernel frees the program and maps
  BpfKernelPath(const BpfKernelPath&) = delete;
  BpfKernelPath& operator=(const BpfKernelPath&) = delete;

  bool install(const turn::KernelFlow& flow) override;
  void remove(const turn::KernelFlow& flow) override;
  void relay_closed(const Endpoint& relay) override;

  Totals totals();
  // The kernel's counters for one installed flow (tests); nullopt-like zero when absent.
  FlowCounters counters(const turn::KernelFlow& flow);
  std::vector<std::string> interfaces() const { return interface_names_; }
  // Interfaces holding an address that have no Ethernet header: their traffic stays in user space.
  std::vector<std::string> skipped() const { return skipped_; }

 private:
  BpfKernelPath() = default;
  void erase_locked(const turn::KernelFlow& flow);

  hush_fastpath* skel_ = nullptr;
  std::vector<int> links_;  // tcx link descriptors
  std::vector<std::string> interface_names_;
  std::vector<std::string> skipped_;
  Options options_;
  std::mutex mutex_;
  // Installed flows by peer (relay_closed), and what removed entries had counted.
  std::unordered_multimap<Endpoint, turn::KernelFlow> by_peer_;
  std::uint64_t flows_ = 0;
  Totals retired_;
};

}  // namespace hush::fastpath
