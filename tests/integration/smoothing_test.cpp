// --smoothing over real sockets: what a peer sends at irregular moments reaches the client on
// the allocation's clock (every arrival on a grid of ticks), at most one tick late, in order,
// nothing lost. The measurement against a fingerprinting observer is a benchmark's job; this
// checks the mechanism.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <random>
#include <thread>

#include "hush/auth/rest_credential.hpp"
#include "hush/stun/channel_data.hpp"
#include "relay_process.hpp"

using namespace hush;
using namespace hush::test;
using Clock = std::chrono::steady_clock;

namespace {

struct Arrival {
  std::uint32_t seq;
  Clock::time_point at;
};

// The peer sends `count` numbered packets at random gaps of 3-37 ms; returns when each was sent
// and when and in which order the client got them.
void run_call(Relay& relay, int count, std::vector<Clock::time_point>& sent, std::vector<Arrival>& got) {
  const auto user = relay.credential_username();
  TurnClient client(relay.endpoint(), user, auth::rest_password(relay.secret, user));
  ASSERT_TRUE(client.allocate());
  UdpSocket peer;
  ASSERT_TRUE(client.bind_channel(0x4001, peer.local()));
  std::thread receiver([&] {
    while (got.size() < static_cast<std::size_t>(count)) {
      auto d = client.socket().receive(std::chrono::seconds(2));
      if (!d) return;
      const auto at = Clock::now();
      auto cd = stun::parse_channel_data(*d);
      if (!cd || cd->payload.size() < 4) continue;
      got.push_back(Arrival{load_u32(cd->payload.data()), at});
    }
  });
  std::mt19937 rng(7);
  std::vector<std::byte> payload(160, std::byte{0xAB});
  for (int i = 0; i < count; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(3 + rng() % 35));
    store_u32(payload.data(), static_cast<std::uint32_t>(i));
    sent.push_back(Clock::now());
    peer.send_to(client.relayed(), payload);
  }
  receiver.join();
}

// Share of arrivals within `tolerance` of a grid of `tick` through the first arrival.
double on_grid(const std::vector<Arrival>& got, std::chrono::microseconds tick, std::chrono::microseconds tolerance) {
  if (got.empty()) return 0;
  int hits = 0;
  for (const auto& a : got) {
    const auto off = std::chrono::duration_cast<std::chrono::microseconds>(a.at - got.front().at).count() % tick.count();
    if (std::min(off, tick.count() - off) <= tolerance.count()) ++hits;
  }
  return static_cast<double>(hits) / static_cast<double>(got.size());
}

}  // namespace

TEST(Smoothing, MediaToTheClientLeavesOnTheAllocationsClock) {
  using std::chrono::milliseconds;
  constexpr int kCount = 60;
  Relay relay({"--smoothing", "50ms", "--threads", "1"});
  std::vector<Clock::time_point> sent;
  std::vector<Arrival> got;
  run_call(relay, kCount, sent, got);
  ASSERT_EQ(got.size(), static_cast<std::size_t>(kCount)) << "lost packets";
  for (int i = 0; i < kCount; ++i) EXPECT_EQ(got[i].seq, static_cast<std::uint32_t>(i)) << "reordered";
  // Arrivals sit on a 50 ms grid (random sending would put about a quarter within 6 ms of it),
  // and none is later than one tick plus scheduling slack.
  const double grid = on_grid(got, milliseconds(50), milliseconds(6));
  std::cout << "arrivals on the 50 ms grid: " << grid << "\n";
  EXPECT_GE(grid, 0.9);
  int late = 0;
  for (int i = 0; i < kCount; ++i) late += got[i].at - sent[i] > milliseconds(50 + 15);
  EXPECT_LE(late, kCount / 20);
}

TEST(Smoothing, OffByDefaultSoArrivalsFollowTheSender) {
  // The control for the test above: the same traffic without --smoothing is not on any grid.
  using std::chrono::milliseconds;
  constexpr int kCount = 60;
  Relay relay({"--threads", "1"});
  std::vector<Clock::time_point> sent;
  std::vector<Arrival> got;
  run_call(relay, kCount, sent, got);
  ASSERT_EQ(got.size(), static_cast<std::size_t>(kCount));
  const double grid = on_grid(got, milliseconds(50), milliseconds(6));
  std::cout << "arrivals on the 50 ms grid: " << grid << "\n";
  EXPECT_LT(grid, 0.6);
}
