/* The BPF maps of the kernel fast path, shared by the eBPF program (relay/fastpath/
 * hush_fastpath.bpf.c) and user space (relay/fastpath/kernel_path.cpp). Plain C, fixed layout:
 * addresses are 16 bytes (IPv4 in the first 4, the rest zero), ports and channel numbers in
 * network byte order, every padding byte zero (keys are compared bytewise). */
#ifndef HUSH_FASTPATH_FLOWS_H
#define HUSH_FASTPATH_FLOWS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define HUSH_PAD_NONE 0
#define HUSH_PAD_BLOCK 1
#define HUSH_PAD_FIXED 2
/* The largest padding the kernel path adds to one packet; flows that could need more stay in
 * user space. */
#define HUSH_MAX_KERNEL_PAD 1536

/* Client to peer: a ChannelData datagram from this client to this listener on this channel. */
struct hush_client_key {
  __u8 client[16];
  __u8 server[16];
  __u16 client_port;
  __u16 server_port;
  __u16 channel;
  __u8 family; /* 4 or 6 */
  __u8 zero;
};

/* ... leaves as plain UDP from the relayed address to the peer. */
struct hush_client_flow {
  __u8 relay[16];
  __u8 peer[16];
  __u16 relay_port;
  __u16 peer_port;
  __u32 ifindex; /* where the peer is reached; 0: on this host */
  __u8 family;   /* of relay and peer, 4 or 6: may differ from the client's (RFC 8656 §7.2) */
  __u8 zero[7];
  __u64 packets; /* counted by the kernel */
  __u64 bytes;   /* payload bytes */
};

/* Peer to client: a UDP datagram from this peer to this relayed address. */
struct hush_peer_key {
  __u8 peer[16];
  __u8 relay[16];
  __u16 peer_port;
  __u16 relay_port;
  __u8 family;
  __u8 zero[3];
};

/* ... leaves as ChannelData on `channel` from the listener to the client, padded. */
struct hush_peer_flow {
  __u8 client[16];
  __u8 server[16];
  __u16 client_port;
  __u16 server_port;
  __u16 channel;
  __u16 pad_mode; /* HUSH_PAD_* */
  __u16 pad_size;
  __u8 family; /* of client and listener, 4 or 6: may differ from the peer's */
  __u8 zero;
  __u32 ifindex; /* where the client is reached; 0: on this host */
  __u64 packets;
  __u64 bytes;
};

#endif
