// hush-ceiling: the practical ceiling of a user-space UDP relay on this machine. No TURN
// logic: one thread, one client-facing socket and one peer-facing socket, recvmmsg/sendmmsg.
// ChannelData from a client loses its 4-byte header and goes to peer (channel - 0x4000);
// what a peer sends back gets the header again and goes to the client that sent that
// allocation's probes (the probe's allocation index, bytes 4-7 of the payload, names it).
//
//   hush-ceiling --listen 127.0.0.1:3479 --peer-port 20100 --peers 16
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <optional>
#include <cstdio>
#include <cstring>
#include <vector>

#include <CLI/CLI.hpp>

#include "hush/net/udp_socket.hpp"
#include "hush/stun/channel_data.hpp"

using namespace hush;

namespace {
constexpr int kBatch = 32;
constexpr std::size_t kSlot = 2048;
volatile std::sig_atomic_t g_stop = 0;
}  // namespace

int main(int argc, char** argv) {
  std::string listen = "127.0.0.1:3479";
  std::uint16_t peer_port = 20100;
  std::size_t peers = 16;
  std::string peer_host;  // where the echo peers are: the listening address unless given
  CLI::App app{"hush-ceiling: a bare ChannelData forwarder, the ceiling for user-space relays"};
  app.add_option("--listen", listen)->capture_default_str();
  app.add_option("--peer-port", peer_port)->capture_default_str();
  app.add_option("--peers", peers)->capture_default_str();
  app.add_option("--peer-host", peer_host, "The echo peers' address (default: the listening address)");
  CLI11_PARSE(app, argc, argv);
  auto ep = Endpoint::parse(listen);
  const auto peer_ip = peer_host.empty() ? (ep ? std::optional<IpAddress>(ep->ip) : std::nullopt) : IpAddress::parse(peer_host);
  if (!ep || !peer_ip) return 2;
  std::signal(SIGTERM, [](int) { g_stop = 1; });
  std::signal(SIGINT, [](int) { g_stop = 1; });
  auto client_fd = net::open_udp(*ep, net::UdpOptions{false, false, 8 << 20, 8 << 20});
  auto peer_fd = net::open_udp(Endpoint{ep->ip, 0}, net::UdpOptions{false, false, 8 << 20, 8 << 20});
  if (!client_fd || !peer_fd) {
    std::fprintf(stderr, "hush-ceiling: cannot bind\n");
    return 2;
  }
  std::vector<sockaddr_storage> clients(1 << 16);
  std::vector<socklen_t> client_len(1 << 16, 0);
  std::vector<sockaddr_storage> peer_addr(peers);
  std::vector<socklen_t> peer_len(peers);
  for (std::size_t i = 0; i < peers; ++i)
    peer_len[i] = net::to_sockaddr(Endpoint{*peer_ip, static_cast<std::uint16_t>(peer_port + i)}, peer_addr[i]);

  std::vector<std::byte> buf(kBatch * kSlot);
  mmsghdr in[kBatch], out[kBatch];
  iovec in_iov[kBatch], out_iov[kBatch];
  sockaddr_storage from[kBatch];
  pollfd fds[2] = {{*client_fd, POLLIN, 0}, {*peer_fd, POLLIN, 0}};
  while (!g_stop) {
    if (::poll(fds, 2, 200) <= 0) continue;
    for (int side = 0; side < 2; ++side) {
      if (!(fds[side].revents & POLLIN)) continue;
      for (;;) {
        for (int i = 0; i < kBatch; ++i) {
          in_iov[i] = {buf.data() + i * kSlot + 4, kSlot - 4};  // 4 bytes of headroom
          in[i] = mmsghdr{};
          in[i].msg_hdr.msg_name = &from[i];
          in[i].msg_hdr.msg_namelen = sizeof from[i];
          in[i].msg_hdr.msg_iov = &in_iov[i];
          in[i].msg_hdr.msg_iovlen = 1;
        }
        const int got = ::recvmmsg(fds[side].fd, in, kBatch, MSG_DONTWAIT, nullptr);
        if (got <= 0) break;
        int n = 0;
        for (int i = 0; i < got; ++i) {
          std::byte* p = buf.data() + i * kSlot + 4;
          const std::size_t len = in[i].msg_len;
          out[n] = mmsghdr{};
          if (side == 0) {  // client -> peer: strip the header
            auto cd = stun::parse_channel_data(Bytes(p, len));
            if (!cd || cd->payload.size() < 8) continue;
            const std::size_t peer = (cd->channel - 0x4000u) % peers;
            const std::uint32_t alloc = load_u32(cd->payload.data() + 4) & 0xFFFF;
            clients[alloc] = from[i];
            client_len[alloc] = in[i].msg_hdr.msg_namelen;
            out_iov[n] = {const_cast<std::byte*>(cd->payload.data()), cd->payload.size()};
            out[n].msg_hdr.msg_name = &peer_addr[peer];
            out[n].msg_hdr.msg_namelen = peer_len[peer];
          } else {  // peer -> client: prepend the header in place
            if (len < 8) continue;
            const std::uint32_t alloc = load_u32(p + 4) & 0xFFFF;
            if (client_len[alloc] == 0) continue;
            const auto port = net::from_sockaddr(from[i]).port;
            stun::write_channel_header(p - 4, static_cast<std::uint16_t>(0x4000 + (port - peer_port)),
                                       static_cast<std::uint16_t>(len));
            out_iov[n] = {p - 4, len + 4};
            out[n].msg_hdr.msg_name = &clients[alloc];
            out[n].msg_hdr.msg_namelen = client_len[alloc];
          }
          out[n].msg_hdr.msg_iov = &out_iov[n];
          out[n].msg_hdr.msg_iovlen = 1;
          ++n;
        }
        const int to_fd = side == 0 ? *peer_fd : *client_fd;
        int sent = 0;
        while (sent < n) {
          const int r = ::sendmmsg(to_fd, out + sent, static_cast<unsigned>(n - sent), MSG_DONTWAIT);
          sent += r > 0 ? r : 1;
        }
        if (got < kBatch) break;
      }
    }
  }
  ::close(*client_fd);
  ::close(*peer_fd);
  return 0;
}
