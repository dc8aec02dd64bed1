// SPDX-License-Identifier: (MIT OR GPL-2.0)
/* hush's kernel fast path: TC ingress (tcx) program that forwards established TURN channel
 * traffic without a trip through user space.
 *
 *   ChannelData client -> listener, on a bound channel with a valid permission
 *     => UDP relayed address -> peer, payload unchanged
 *   UDP peer -> relayed address, for a peer with a bound channel
 *     => ChannelData listener -> client, padded as --padding says (with --padding-udp)
 *
 * The client's family and the peer's may differ (RFC 8656 §7.2: an IPv6 client gets an IPv4
 * relayed address unless it asks otherwise); such packets change IP version on the way
 * (bpf_skb_change_proto, as NAT64 programs do) with a fresh header of the other version.
 *
 * User space owns the state: it installs an entry in hush_clients / hush_peers when a channel
 * is bound and its permission valid (after the peer policy), and deletes it when either ends.
 * Everything else (STUN, indications, unknown flows, fragments, IP options, IPv6 extension
 * headers, GSO packets, anything this program cannot forward exactly) goes on to user space
 * untouched: TCX_NEXT before any byte is changed.
 *
 * CO-RE: the kernel's sk_buff is read through bpf_cast_to_kern_ctx() with BTF relocations
 * (ip_summed), so one object runs on any kernel with BTF and tcx (6.6+). */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "hush/fastpath/flows.h"

#define TCX_NEXT -1
#define TCX_PASS 0
#define TC_ACT_SHOT 2
#define ETH_HLEN 14
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define IPPROTO_UDP_ 17
#define AF_INET_ 2
#define AF_INET6_ 10
#define CHECKSUM_PARTIAL_ 3
#define FRESH_TTL 64

extern void *bpf_cast_to_kern_ctx(void *) __ksym;

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* Sizes are set by user space before loading (--kernel-fastpath-entries). */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 65536);
  __type(key, struct hush_client_key);
  __type(value, struct hush_client_flow);
} hush_clients SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 65536);
  __type(key, struct hush_peer_key);
  __type(value, struct hush_peer_flow);
} hush_peers SEC(".maps");

/* Scratch space for summing a payload (the stack is too small). */
struct chunk {
  __u8 b[512];
};
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct chunk);
} hush_scratch SEC(".maps");

/* The loopback interface: locally delivered results are only passed on there. */
const volatile __u32 loopback_ifindex = 1;

static const __u8 zeros[512];

struct packet {
  __u8 family;
  __u8 tos;        /* IPv4 type of service or IPv6 traffic class (DSCP and ECN) */
  __u32 l2;        /* bytes before the IP header */
  __u32 l4;        /* offset of the UDP header */
  __u8 src[16], dst[16];
  __u16 sport, dport; /* network order */
  __u32 udp_len;      /* UDP payload bytes */
  __u16 check;        /* as on the wire */
};

struct verdict {
  __u8 family; /* of what leaves: 4 or 6 */
  __u8 src[16], dst[16];
  __u16 sport, dport;
  int in_cd, out_cd;
  __u8 in_cd_hdr[4], out_cd_hdr[4];
  __u32 payload;   /* media bytes, unchanged */
  __u32 trailing;  /* bytes after an incoming ChannelData's end (at most 3) */
  __u32 pad;       /* zero bytes after the outgoing ChannelData */
  __u32 ifindex;   /* where it leaves; 0: delivered on this host */
  struct hush_client_flow *cf; /* whose counters count it */
  struct hush_peer_flow *pf;
};

static __always_inline __u16 fold(__u64 s) {
  s = (s & 0xffff) + (s >> 16);
  s = (s & 0xffff) + (s >> 16);
  s = (s & 0xffff) + (s >> 16);
  return (__u16)s;
}

static __always_inline __u32 pad_for(const struct hush_peer_flow *f, __u32 len) {
  __u32 n = f->pad_size;
  if (f->pad_mode == HUSH_PAD_NONE || n == 0) return 0;
  if (f->pad_mode == HUSH_PAD_FIXED && len <= n) return n - len;
  return (n - len % n) % n;
}

static __always_inline int parse(struct __sk_buff *skb, __u32 l2, struct packet *p) {
  if (skb->gso_size != 0) return -1;
  __builtin_memset(p, 0, sizeof *p); /* IPv4 addresses leave 12 bytes that keys compare */
  p->l2 = l2;
  if (skb->protocol == bpf_htons(ETH_P_IP)) {
    struct iphdr ip;
    if (bpf_skb_load_bytes(skb, l2, &ip, sizeof ip)) return -1;
    if (ip.version != 4 || ip.ihl != 5 || ip.protocol != IPPROTO_UDP_) return -1;
    if (ip.frag_off & bpf_htons(0x3FFF)) return -1; /* MF or an offset: a fragment */
    if (l2 + bpf_ntohs(ip.tot_len) != skb->len) return -1; /* link padding, truncation */
    p->family = 4;
    p->tos = ip.tos;
    __builtin_memcpy(p->src, &ip.saddr, 4);
    __builtin_memcpy(p->dst, &ip.daddr, 4);
    p->l4 = l2 + sizeof ip;
  } else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
    struct ipv6hdr ip6;
    if (bpf_skb_load_bytes(skb, l2, &ip6, sizeof ip6)) return -1;
    if (ip6.version != 6 || ip6.nexthdr != IPPROTO_UDP_) return -1; /* extension headers */
    if (l2 + sizeof ip6 + bpf_ntohs(ip6.payload_len) != skb->len) return -1;
    p->family = 6;
    const __u8 *b = (const __u8 *)&ip6;
    p->tos = (__u8)((b[0] << 4) | (b[1] >> 4));
    __builtin_memcpy(p->src, &ip6.saddr, 16);
    __builtin_memcpy(p->dst, &ip6.daddr, 16);
    p->l4 = l2 + sizeof ip6;
  } else {
    return -1;
  }
  struct udphdr udp;
  if (bpf_skb_load_bytes(skb, p->l4, &udp, sizeof udp)) return -1;
  if (p->l4 + bpf_ntohs(udp.len) != skb->len || bpf_ntohs(udp.len) < sizeof udp) return -1;
  p->sport = udp.source;
  p->dport = udp.dest;
  p->udp_len = bpf_ntohs(udp.len) - sizeof udp;
  p->check = udp.check;
  return 0;
}

static __always_inline void to_client(struct verdict *v, struct hush_peer_flow *f, __u32 payload) {
  __builtin_memcpy(v->src, f->server, 16);
  __builtin_memcpy(v->dst, f->client, 16);
  v->sport = f->server_port;
  v->dport = f->client_port;
  v->out_cd = 1;
  __u16 ch = f->channel;
  __u16 len = bpf_htons((__u16)payload);
  __builtin_memcpy(v->out_cd_hdr, &ch, 2);
  __builtin_memcpy(v->out_cd_hdr + 2, &len, 2);
  v->pad = pad_for(f, payload + 4);
  v->ifindex = f->ifindex;
  v->family = f->family;
  v->pf = f;
}

/* The peer-to-client flow of UDP from peer:peer_port to relay:relay_port, if any. */
static __always_inline struct hush_peer_flow *peer_flow(const __u8 *peer, __u16 peer_port, const __u8 *relay,
                                                        __u16 relay_port, __u8 family) {
  struct hush_peer_key pk = {};
  __builtin_memcpy(pk.peer, peer, 16);
  __builtin_memcpy(pk.relay, relay, 16);
  pk.peer_port = peer_port;
  pk.relay_port = relay_port;
  pk.family = family;
  return bpf_map_lookup_elem(&hush_peers, &pk);
}

/* Which flow the packet belongs to and what leaves; -1: not ours, or not forwardable here. */
static __always_inline int classify(struct __sk_buff *skb, const struct packet *p, struct verdict *v) {
  __builtin_memset(v, 0, sizeof *v);
  if (p->udp_len >= 4) {
    __u8 cd[4];
    if (bpf_skb_load_bytes(skb, p->l4 + 8, cd, 4)) return -1;
    if (cd[0] >= 0x40 && cd[0] <= 0x7F) {
      struct hush_client_key ck = {};
      __builtin_memcpy(ck.client, p->src, 16);
      __builtin_memcpy(ck.server, p->dst, 16);
      ck.client_port = p->sport;
      ck.server_port = p->dport;
      __builtin_memcpy(&ck.channel, cd, 2);
      ck.family = p->family;
      struct hush_client_flow *cf = bpf_map_lookup_elem(&hush_clients, &ck);
      if (cf) {
        __u32 len = ((__u32)cd[2] << 8) | cd[3];
        if (len + 4 > p->udp_len || p->udp_len - 4 - len > 3) return -1;
        v->in_cd = 1;
        __builtin_memcpy(v->in_cd_hdr, cd, 4);
        v->payload = len;
        v->trailing = p->udp_len - 4 - len;
        v->cf = cf;
        /* A peer that is another allocation's relayed address on this host (a relay-only
         * call between two clients of this relay): straight on to that client. */
        struct hush_peer_flow *next = peer_flow(cf->relay, cf->relay_port, cf->peer, cf->peer_port, cf->family);
        if (next) {
          to_client(v, next, len);
          return 0;
        }
        __builtin_memcpy(v->src, cf->relay, 16);
        __builtin_memcpy(v->dst, cf->peer, 16);
        v->sport = cf->relay_port;
        v->dport = cf->peer_port;
        v->ifindex = cf->ifindex;
        v->family = cf->family;
        return 0;
      }
    }
  }
  struct hush_peer_flow *pf = peer_flow(p->src, p->sport, p->dst, p->dport, p->family);
  if (!pf || p->udp_len > 0xFFFF - 4 - HUSH_MAX_KERNEL_PAD) return -1;
  v->payload = p->udp_len;
  to_client(v, pf, p->udp_len);
  return 0;
}

/* The new UDP checksum. `partial`: the field holds only the pseudo-header sum and the rest
 * is left to whoever completes it (CHECKSUM_PARTIAL), so only pseudo-header words count.
 * Addresses are 16 bytes with an IPv4 one zero-padded, so both pseudo-headers sum the same
 * way and a packet changing IP version is adjusted like any other. */
static __always_inline __u16 udp_checksum(struct __sk_buff *skb, const struct packet *p, const struct verdict *v,
                                          __u32 new_udp_len, int partial) {
  __be32 from_p[9] = {}, to_p[9] = {};
  __builtin_memcpy(from_p, p->src, 16);
  __builtin_memcpy(from_p + 4, p->dst, 16);
  from_p[8] = bpf_htonl(p->udp_len + 8);
  __builtin_memcpy(to_p, v->src, 16);
  __builtin_memcpy(to_p + 4, v->dst, 16);
  to_p[8] = bpf_htonl(new_udp_len);
  __s64 d = bpf_csum_diff(from_p, sizeof from_p, to_p, sizeof to_p, 0);
  if (d < 0) return 0;
  if (partial) return fold((__u64)(__u16)p->check + (__u64)d);

  /* The segment: ports, the length field, the ChannelData header, and whatever trailing bytes
   * an incoming ChannelData had (placed by their offset's parity). */
  __u8 from_s[16] = {}, to_s[16] = {};
  __u16 old_len = bpf_htons((__u16)(p->udp_len + 8)), new_len = bpf_htons((__u16)new_udp_len);
  __builtin_memcpy(from_s, &p->sport, 2);
  __builtin_memcpy(from_s + 2, &p->dport, 2);
  __builtin_memcpy(from_s + 4, &old_len, 2);
  __builtin_memcpy(to_s, &v->sport, 2);
  __builtin_memcpy(to_s + 2, &v->dport, 2);
  __builtin_memcpy(to_s + 4, &new_len, 2);
  if (v->in_cd) __builtin_memcpy(from_s + 8, v->in_cd_hdr, 4);
  if (v->out_cd) __builtin_memcpy(to_s + 8, v->out_cd_hdr, 4);
  __u32 t = v->trailing;
  if (t > 0 && t <= 3) {
    __u8 tail[3] = {};
    __u32 at = p->l4 + 8 + 4 + v->payload; /* even offset within the segment: 12 + payload */
    if (bpf_skb_load_bytes(skb, at, tail, 3 < t ? 3 : t)) return 0;
    /* bytes past t stay zero */
    if (v->payload & 1) {
      from_s[13] = tail[0];
      from_s[14] = tail[1];
      from_s[15] = tail[2];
    } else {
      from_s[12] = tail[0];
      from_s[13] = tail[1];
      from_s[14] = tail[2];
    }
  }
  __s64 s = bpf_csum_diff((__be32 *)from_s, sizeof from_s, (__be32 *)to_s, sizeof to_s, (__u32)d);
  if (s < 0) return 0;
  __u16 check = ~fold((__u64)(__u16)~p->check + (__u64)s);
  return check == 0 ? 0xFFFF : check;
}

/* A whole new checksum, payload included: for a CHECKSUM_PARTIAL packet whose UDP header moves
 * (the kernel keeps its checksum start where the old header was, and IPv6 then verifies the
 * datagram in full). Payloads up to 1536 bytes; 0 when it cannot. */
static __always_inline __u16 full_checksum(struct __sk_buff *skb, const struct packet *p, const struct verdict *v,
                                           __u32 new_udp_len) {
  __be32 w[12] = {};
  __builtin_memcpy(w, v->src, 16);
  __builtin_memcpy(w + 4, v->dst, 16);
  w[8] = bpf_htonl(new_udp_len);
  w[9] = bpf_htonl(IPPROTO_UDP_);
  __u16 len = bpf_htons((__u16)new_udp_len);
  __builtin_memcpy(&w[10], &v->sport, 2);
  __builtin_memcpy((__u8 *)&w[10] + 2, &v->dport, 2);
  __builtin_memcpy(&w[11], &len, 2);
  __s64 sum = bpf_csum_diff(0, 0, w, sizeof w, 0);
  if (sum < 0) return 0;
  if (v->out_cd) {
    __be32 cd;
    __builtin_memcpy(&cd, v->out_cd_hdr, 4);
    sum = bpf_csum_diff(0, 0, &cd, 4, (__u32)sum);
    if (sum < 0) return 0;
  }
  __u32 zero = 0;
  struct chunk *c = bpf_map_lookup_elem(&hush_scratch, &zero);
  if (!c) return 0;
  __u32 at = p->l4 + 8 + (v->in_cd ? 4 : 0), left = v->payload;
  if (left > 3 * 512) return 0;
  for (int i = 0; i < 3; i++) {
    if (left == 0) break;
    __u64 n = left > 512 ? 512 : left;
    barrier_var(n);
    if (n == 0 || n > 512) break;
    __u64 rounded = (n + 3) & ~3ULL; /* the bytes past n are zero: they add nothing */
    if (rounded > 512) break;
    __u64 last = (n - 1) & ~3ULL; /* the word holding the last byte: zeroed, then partly loaded */
    if (last > 508) break;
    *(__u32 *)(c->b + last) = 0;
    if (bpf_skb_load_bytes(skb, at, c->b, (__u32)n)) return 0;
    sum = bpf_csum_diff(0, 0, (__be32 *)c->b, (__u32)rounded, (__u32)sum);
    if (sum < 0) return 0;
    at += n;
    left -= n;
  }
  __u16 check = ~fold((__u64)sum);
  return check == 0 ? 0xFFFF : check;
}

static __always_inline int forward(struct __sk_buff *skb, __u32 l2) {
  struct packet p;
  struct verdict v;
  if (parse(skb, l2, &p) < 0) return TCX_NEXT;
  if (classify(skb, &p, &v) < 0) return TCX_NEXT;

  const __u32 old_udp = p.udp_len;
  const __u32 new_udp = v.out_cd ? 4 + v.payload + v.pad : v.payload;
  if (v.family != 4 && v.family != 6) return TCX_NEXT;
  const int translate = v.family != p.family;
  const __u32 old_iph = p.family == 4 ? sizeof(struct iphdr) : sizeof(struct ipv6hdr);
  const __u32 iph = v.family == 4 ? sizeof(struct iphdr) : sizeof(struct ipv6hdr);
  if (v.pad > HUSH_MAX_KERNEL_PAD || new_udp + 8 + iph > 0xFFFF) return TCX_NEXT;
  const __s32 growth = (__s32)(iph + new_udp) - (__s32)(old_iph + old_udp);

  /* Where it goes, as user space looked it up when it installed the flow (a FIB lookup here
   * would need IP forwarding on, which a relay does not). Local results are passed up the stack
   * from loopback only (elsewhere a local source address would be a martian). */
  const int local = v.ifindex == 0;
  if (local && skb->ingress_ifindex != loopback_ifindex) return TCX_NEXT;
  if (!local) {
    if (l2 != ETH_HLEN) return TCX_NEXT;
    __u32 mtu = 0;
    if (bpf_check_mtu(skb, v.ifindex, &mtu, growth, 0) != BPF_MTU_CHK_RET_SUCCESS)
      return TCX_NEXT;
  }
  /* A CHECKSUM_PARTIAL packet (sent by a local socket or a veth) keeps a checksum start the
   * length change below would leave wrong: forwarded only where nobody completes it. */
  struct sk_buff *k = bpf_cast_to_kern_ctx(skb);
  const int partial = BPF_CORE_READ_BITFIELD(k, ip_summed) == CHECKSUM_PARTIAL_;
  if (partial && !local && new_udp != old_udp) return TCX_NEXT;
  if (p.family == 6 && p.check == 0) return TCX_NEXT; /* invalid for IPv6 UDP */

  const int head = (v.out_cd ? 4 : 0) - (v.in_cd ? 4 : 0);
  __u16 check = 0;
  /* An IPv4 datagram without a checksum (allowed there) that becomes IPv6, which requires one,
   * gets one computed in full; so does a partial one whose UDP header moves (above). */
  if ((partial && head < 0) || (p.check == 0 && v.family == 6)) {
    check = full_checksum(skb, &p, &v, new_udp + 8);
    if (check == 0) return TCX_NEXT;
  } else if (p.check != 0) {
    check = udp_checksum(skb, &p, &v, new_udp + 8, partial);
    if (check == 0 && !partial) return TCX_NEXT;
  }

  /* The other IP version: the helper makes room for (or removes) the difference between the
   * headers and sets the protocol; the UDP header stays where it was, as does a partial
   * checksum's start, so the cases above hold unchanged. Nothing is lost if it fails. */
  if (translate && bpf_skb_change_proto(skb, bpf_htons(v.family == 4 ? ETH_P_IP : ETH_P_IPV6), 0))
    return TCX_NEXT;

  /* From here on the packet is ours: it leaves rewritten or is dropped. (A translated packet
   * always leaves by bpf_redirect_neigh, which writes a new link header for its protocol.) */
  if (head != 0 && bpf_skb_adjust_room(skb, head, BPF_ADJ_ROOM_NET, 0)) return TC_ACT_SHOT;
  const __u32 new_len = l2 + iph + 8 + new_udp;
  if (new_len != skb->len && bpf_skb_change_tail(skb, new_len, 0)) return TC_ACT_SHOT;

  if (v.family == 4) {
    struct iphdr ip;
    if (!translate) {
      if (bpf_skb_load_bytes(skb, l2, &ip, sizeof ip)) return TC_ACT_SHOT;
    } else {
      /* A fresh header: DSCP and ECN carried over, Don't Fragment as IPv6 never fragments on
       * the way (RFC 6864: an atomic datagram's identification may be 0). */
      __builtin_memset(&ip, 0, sizeof ip);
      *(__u8 *)&ip = 0x45;
      ip.tos = p.tos;
      ip.frag_off = bpf_htons(0x4000);
      ip.protocol = IPPROTO_UDP_;
    }
    ip.tot_len = bpf_htons((__u16)(iph + 8 + new_udp));
    ip.ttl = FRESH_TTL;
    __builtin_memcpy(&ip.saddr, v.src, 4);
    __builtin_memcpy(&ip.daddr, v.dst, 4);
    ip.check = 0;
    ip.check = ~fold((__u64)bpf_csum_diff(0, 0, (__be32 *)&ip, sizeof ip, 0));
    if (bpf_skb_store_bytes(skb, l2, &ip, sizeof ip, BPF_F_RECOMPUTE_CSUM)) return TC_ACT_SHOT;
  } else {
    struct ipv6hdr ip6;
    if (!translate) {
      if (bpf_skb_load_bytes(skb, l2, &ip6, sizeof ip6)) return TC_ACT_SHOT;
    } else {
      __builtin_memset(&ip6, 0, sizeof ip6);
      __u8 *b = (__u8 *)&ip6;
      b[0] = (__u8)(0x60 | (p.tos >> 4));
      b[1] = (__u8)((p.tos & 0xF) << 4);
      ip6.nexthdr = IPPROTO_UDP_;
    }
    ip6.payload_len = bpf_htons((__u16)(8 + new_udp));
    ip6.hop_limit = FRESH_TTL;
    __builtin_memcpy(&ip6.saddr, v.src, 16);
    __builtin_memcpy(&ip6.daddr, v.dst, 16);
    if (bpf_skb_store_bytes(skb, l2, &ip6, sizeof ip6, BPF_F_RECOMPUTE_CSUM)) return TC_ACT_SHOT;
  }
  struct {
    struct udphdr udp;
    __u8 cd[4];
  } hdr;
  hdr.udp.source = v.sport;
  hdr.udp.dest = v.dport;
  hdr.udp.len = bpf_htons((__u16)(8 + new_udp));
  hdr.udp.check = check;
  __builtin_memcpy(hdr.cd, v.out_cd_hdr, 4);
  const __u32 l4 = l2 + iph;
  if (bpf_skb_store_bytes(skb, l4, &hdr, v.out_cd ? 12 : 8, BPF_F_RECOMPUTE_CSUM)) return TC_ACT_SHOT;
  /* Padding: zeros after the ChannelData's end (RFC 8656 §12.5). */
  __u32 at = l4 + 12 + v.payload, left = v.out_cd ? v.pad : 0;
  for (int i = 0; i < HUSH_MAX_KERNEL_PAD / 512; i++) {
    if (left == 0) break;
    __u64 n = left > 512 ? 512 : left;
    barrier_var(n);
    if (n == 0 || n > 512) break;
    if (bpf_skb_store_bytes(skb, at, zeros, (__u32)n, BPF_F_RECOMPUTE_CSUM)) return TC_ACT_SHOT;
    at += n;
    left -= n;
  }

  if (v.cf) {
    __sync_fetch_and_add(&v.cf->packets, 1);
    __sync_fetch_and_add(&v.cf->bytes, v.payload);
  }
  if (v.pf) {
    __sync_fetch_and_add(&v.pf->packets, 1);
    __sync_fetch_and_add(&v.pf->bytes, v.payload);
  }
  /* Loopback hands the receiver the sender's route with the packet, and one of the other IP
   * version would take it to the wrong protocol's input. A translated packet is sent out again
   * on loopback with a route of its own version (and passes this program on its way back in:
   * no flow matches it). */
  if (local && !translate) return TCX_PASS;
  if (local) return bpf_redirect_neigh(loopback_ifindex, 0, 0, 0);
  /* The neighbour (and the link header) from the kernel's own route and neighbour tables. */
  return bpf_redirect_neigh(v.ifindex, 0, 0, 0);
}

/* Interfaces with an Ethernet header (and loopback, which has one). */
SEC("tc")
int hush_ingress(struct __sk_buff *skb) { return forward(skb, ETH_HLEN); }
