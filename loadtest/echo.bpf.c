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
 * cost. Everything else passes on unchanged.
 *
 * --circulate: datagrams for the clients' ports in hush_echo_clients (at the same address)
 * go back the same way, so a ChannelData message the relay sends a client returns to the
 * relay as that client's next one: packets put in once circulate client -> relay -> peer ->
 * relay -> client ... with no generator in the loop, and the relay's rate is its own limit. */
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
/* --circulate: look the clients' ports up too (otherwise datagrams that are not for a peer
 * pass without a map lookup). */
const volatile __u8 echo_clients = 0;

/* --circulate: the clients' ports (host order) whose datagrams are sent back too. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 65536);
  __type(key, __u16);
  __type(value, __u8);
} hush_echo_clients SEC(".maps");

/* Datagrams sent back, per CPU (two cores bouncing packets must not share a counter's cache
 * line): [0] from the peers, [1] from the clients. Read by the generator. */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 2);
  __type(key, __u32);
  __type(value, __u64);
} hush_echo_counts SEC(".maps");

/* 0: not ours; 1: a peer port; 2: a client port. */
static __always_inline int echo_kind(const struct udphdr *udp) {
  const __u16 port = bpf_ntohs(udp->dest);
  if ((__u16)(port - port_base) < port_count) return 1;
  return echo_clients && bpf_map_lookup_elem(&hush_echo_clients, &port) ? 2 : 0;
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
  int kind;
  if (eth->h_proto == bpf_htons(ETH_P_IP_) && peer_family == 4) {
    struct iphdr *ip = (void *)(eth + 1);
    if ((void *)(ip + 1) > end) return TCX_PASS;
    if (ip->ihl != 5 || ip->protocol != IPPROTO_UDP_ || (ip->frag_off & bpf_htons(0x3FFF))) return TCX_PASS;
    if (!is_peer_ip((const __u8 *)&ip->daddr, 4)) return TCX_PASS;
    udp = (void *)(ip + 1);
    if ((void *)(udp + 1) > end || !(kind = echo_kind(udp))) return TCX_PASS;
    __u32 t = ip->saddr;
    ip->saddr = ip->daddr;
    ip->daddr = t;
  } else if (eth->h_proto == bpf_htons(ETH_P_IPV6_) && peer_family == 6) {
    struct ipv6hdr *ip6 = (void *)(eth + 1);
    if ((void *)(ip6 + 1) > end) return TCX_PASS;
    if (ip6->nexthdr != IPPROTO_UDP_) return TCX_PASS;
    if (!is_peer_ip((const __u8 *)&ip6->daddr, 16)) return TCX_PASS;
    udp = (void *)(ip6 + 1);
    if ((void *)(udp + 1) > end || !(kind = echo_kind(udp))) return TCX_PASS;
    swap_bytes((__u8 *)&ip6->saddr, (__u8 *)&ip6->daddr, 16);
  } else {
    return TCX_PASS;
  }
  __u16 p = udp->source;
  udp->source = udp->dest;
  udp->dest = p;
  swap_bytes(eth->h_source, eth->h_dest, 6);
  __u32 slot = kind - 1;
  __u64 *count = bpf_map_lookup_elem(&hush_echo_counts, &slot);
  if (count) *count += 1;
  return bpf_redirect(skb->ifindex, 0);
}
