// tcx (Linux 6.6): BPF links at a device's ingress that the kernel detaches when their last
// descriptor closes, so a process that dies leaves nothing attached. Used by the fast path and
// by the load generator's echo peers; not in Debian 12's UAPI headers, hence the number.
#pragma once

#include <bpf/bpf.h>

namespace hush::fastpath {

inline constexpr auto kTcxIngress = static_cast<bpf_attach_type>(46);  // BPF_TCX_INGRESS

}  // namespace hush::fastpath
