// SPDX-License-Identifier: (MIT OR GPL-2.0)
/* hush-loadgen --echo-in-kernel: the generator's echo peers as a tcx ingress program on the
 * generator's own interface. A UDP datagram for one of the peer ports at the peers' address
 * goes straight back where it came from (Ethernet, IP addresses and UDP ports swapped, out of
 * the interface it arrived on), so the relay sees exactly the reply an echo socket would send:
 * same 5-tuple, same payload. Swapping source and destination changes neither the IPv4 header
 * checksum nor the UDP checksum (both sums are commutative), and a checksum the sender left
 * to the device (CHECKSUM_PARTIAL) stays the device's to finish on the way out.
 * This only makes the generator cheaper per packet: no socket receive, wake-up or send for
 * the peers' half of a round trip, which on loopback-class paths is most of a generator's
 * cost. Everything else passes on unchanged. */
#include "vmlinux.h"

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual MIT/GPL";

#define TCX_PASS 0
#define ETH_P_IP_ 0x0800
#define ETH_P_IPV6_ 0x86DD
#define IPPROTO_UDP_ 17

/* Set before loading: the peers' address (IPv4 in the first four bytes), its family (4 or 6)
 * and their ports, [port_base, port_base + port_count). */
const volatile __u8 peer_ip[16] = {};
const volatile __u8 peer_family = 4;
const volatile __u16 port_base = 0;
const volatile __u16 port_count = 0;

/* Datagrams sent back; read by the generator through the skeleton. */
__u64 echoed = 0;

static __always_inline int is_peer_port(const struct udphdr *udp) {
  return (__u16)(bpf_ntohs(udp->dest) - port_base) < port_count;
}

static __always_inline int is_peer_ip(const __u8 *a, int n) {
  __u8 diff = 0;
#pragma unroll
  for (int i = 0; i < 16; ++i)
    if (i < n) diff |= a[i] ^ peer_ip[i];
  return diff == 0;
}

static __always_inline void swap_bytes(__u8 *a, __u8 *b, int n) {
#pragma unroll
  for (int i = 0; i < 16; ++i) {
    if (i < n) {
      __u8 t = a[i];
      a[i] = b[i];
      b[i] = t;
    }
  }
}

SEC("tc")
int hush_echo(struct __sk_buff *skb) {
  void *data = (void *)(long)skb->data;
  void *end = (void *)(long)skb->data_end;
  struct ethhdr *eth = data;
  if ((void *)(eth + 1) > end) return TCX_PASS;
  struct udphdr *udp;
  if (eth->h_proto == bpf_htons(ETH_P_IP_) && peer_family == 4) {
    struct iphdr *ip = (void *)(eth + 1);
    if ((void *)(ip + 1) > end) return TCX_PASS;
    if (ip->ihl != 5 || ip->protocol != IPPROTO_UDP_ || (ip->frag_off & bpf_htons(0x3FFF))) return TCX_PASS;
    if (!is_peer_ip((const __u8 *)&ip->daddr, 4)) return TCX_PASS;
    udp = (void *)(ip + 1);
    if ((void *)(udp + 1) > end || !is_peer_port(udp)) return TCX_PASS;
    __u32 t = ip->saddr;
    ip->saddr = ip->daddr;
    ip->daddr = t;
  } else if (eth->h_proto == bpf_htons(ETH_P_IPV6_) && peer_family == 6) {
    struct ipv6hdr *ip6 = (void *)(eth + 1);
    if ((void *)(ip6 + 1) > end) return TCX_PASS;
    if (ip6->nexthdr != IPPROTO_UDP_) return TCX_PASS;
    if (!is_peer_ip((const __u8 *)&ip6->daddr, 16)) return TCX_PASS;
    udp = (void *)(ip6 + 1);
    if ((void *)(udp + 1) > end || !is_peer_port(udp)) return TCX_PASS;
    swap_bytes((__u8 *)&ip6->saddr, (__u8 *)&ip6->daddr, 16);
  } else {
    return TCX_PASS;
  }
  __u16 p = udp->source;
  udp->source = udp->dest;
  udp->dest = p;
  swap_bytes(eth->h_source, eth->h_dest, 6);
  __sync_fetch_and_add(&echoed, 1);
  return bpf_redirect(skb->ifindex, 0);
}
