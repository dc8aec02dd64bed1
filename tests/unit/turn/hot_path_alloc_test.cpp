// The packet path allocates nothing: ChannelData, Send indications, and peer data both as
// ChannelData and as Data indications, counted by replacing the global operator new.
// Its own test binary, since the replacement applies to the whole program.
#include <atomic>
#include <cstdlib>
#include <new>

#include "../../support/turn_fixture.hpp"

namespace {
std::atomic<long> g_allocations{0};
}

void* operator new(std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

using namespace hush;
using hush::test::TurnFixture;
namespace attr = stun::attr;

TEST_F(TurnFixture, RelayingAllocatesNothingPerPacket) {
  auto handle = allocate();
  ASSERT_EQ(request(stun::Method::channel_bind, channel(0x4000, "8.8.8.8:7000")).error_code(), 0);
  ASSERT_EQ(request(stun::Method::create_permission, peer("9.9.9.9:1")).error_code(), 0);
  auto cd = test::channel_data(0x4000, std::string(160, 'm'));
  auto send = test::build(stun::Method::send, stun::Class::indication, test::random_tid(), [](stun::MessageBuilder& b) {
    b.add_xor_address(attr::xor_peer_address, *Endpoint::parse("9.9.9.9:7000"));
    b.add(attr::data, as_bytes(std::string(160, 's')));
  });
  const auto channel_peer = *Endpoint::parse("8.8.8.8:7000");
  const auto other_peer = *Endpoint::parse("9.9.9.9:7000");
  std::byte* payload = peer_buffer.data() + turn::kPeerHeadroom;

  auto relay_once = [&] {
    out.clear();
    server->on_client_datagram(now, 0, client, cd, out);
    server->on_client_datagram(now, 0, client, send, out);
    server->on_peer_datagram(now, handle, channel_peer, payload, 160, out);
    server->on_peer_datagram(now, handle, other_peer, payload, 160, out);
  };
  relay_once();  // warm up
  ASSERT_EQ(out.transmits().size(), 4u);
  const long before = g_allocations.load();
  for (int i = 0; i < 10000; ++i) relay_once();
  EXPECT_EQ(g_allocations.load() - before, 0) << "heap allocations on the packet path";
  EXPECT_EQ(out.transmits().size(), 4u);
  EXPECT_EQ(server->counters().to_peer_packets, 2u * 10001u);
  EXPECT_EQ(server->counters().to_client_packets, 2u * 10001u);
}
