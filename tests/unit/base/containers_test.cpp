// FlatMap and SmallVector, the packet path's containers, checked against the standard
// library's under random operations, including the cases their tricks are about: clusters
// that wrap around the table's end and erasing from the middle of one; growing past the
// inline elements and coming back.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <vector>

#include "hush/base/flat_map.hpp"
#include "hush/base/small_vector.hpp"
#include "hush/turn/five_tuple.hpp"

using namespace hush;

namespace {
// Few distinct hashes: long clusters, every erase shifts something.
struct FewHashes {
  std::size_t operator()(int k) const { return static_cast<std::size_t>(k % 5); }
};
// Every key hashes to the table's last slot's neighbourhood: clusters wrap around the end.
struct OneHash {
  std::size_t operator()(int) const { return ~std::size_t{0}; }
};

template <class Hash>
void matches_std_map_under_random_operations(unsigned seed) {
  FlatMap<int, int, Hash> flat;
  std::map<int, int> model;
  std::mt19937 rng(seed);
  for (int step = 0; step < 20000; ++step) {
    const int key = static_cast<int>(rng() % 64);
    switch (rng() % 3) {
      case 0:
        flat.insert_or_assign(key, step);
        model[key] = step;
        break;
      case 1:
        ASSERT_EQ(flat.erase(key), model.erase(key) == 1) << "step " << step;
        break;
      default: {
        const int* v = flat.find(key);
        auto it = model.find(key);
        ASSERT_EQ(v != nullptr, it != model.end()) << "step " << step;
        if (v != nullptr) {
          ASSERT_EQ(*v, it->second);
        }
      }
    }
    ASSERT_EQ(flat.size(), model.size());
    if (step % 997 == 0) {
      for (int k = 0; k < 64; ++k) ASSERT_EQ(flat.find(k) != nullptr, model.contains(k)) << "key " << k;
    }
  }
}
}  // namespace

TEST(FlatMap, MatchesStdMapUnderRandomOperations) {
  for (unsigned seed = 1; seed <= 4; ++seed) {
    matches_std_map_under_random_operations<std::hash<int>>(seed);
    matches_std_map_under_random_operations<FewHashes>(seed);
    matches_std_map_under_random_operations<OneHash>(seed);
  }
}

TEST(FlatMap, EraseInTheMiddleOfAWrappedClusterKeepsTheRestFindable) {
  FlatMap<int, int, OneHash> m;
  for (int k = 0; k < 10; ++k) m.insert_or_assign(k, k * 10);  // one cluster from the last slot on
  ASSERT_EQ(m.capacity(), 16u);
  EXPECT_TRUE(m.erase(3));
  EXPECT_FALSE(m.erase(3));
  for (int k = 0; k < 10; ++k) {
    if (k == 3) {
      EXPECT_EQ(m.find(k), nullptr);
    } else {
      ASSERT_NE(m.find(k), nullptr) << k;
      EXPECT_EQ(*m.find(k), k * 10);
    }
  }
}

TEST(FlatMap, GrowsAtThreeQuartersAndFindsEveryFiveTuple) {
  // The 5-tuple index's slots: two to a cache line.
  EXPECT_EQ((FlatMap<turn::FiveTuple, void*>::slot_size()), 32u);
  FlatMap<turn::FiveTuple, int> m;
  EXPECT_EQ(m.find(turn::FiveTuple{}), nullptr);  // empty: no table yet
  for (int i = 0; i < 10000; ++i) {
    const turn::FiveTuple t{static_cast<std::uint16_t>(i % 3),
                            Endpoint{*IpAddress::parse("192.0.2.1"), static_cast<std::uint16_t>(1024 + i)}};
    m.insert_or_assign(t, i);
  }
  EXPECT_EQ(m.size(), 10000u);
  EXPECT_EQ(m.capacity(), 16384u);
  for (int i = 0; i < 10000; ++i) {
    const turn::FiveTuple t{static_cast<std::uint16_t>(i % 3),
                            Endpoint{*IpAddress::parse("192.0.2.1"), static_cast<std::uint16_t>(1024 + i)}};
    ASSERT_NE(m.find(t), nullptr);
    EXPECT_EQ(*m.find(t), i);
    // Same address and port on another listener: another 5-tuple.
    const turn::FiveTuple other{static_cast<std::uint16_t>(3 + i % 3), t.client};
    EXPECT_EQ(m.find(other), nullptr);
  }
}

// A burst of allocations comes and goes: the 5-tuple index gives its memory back, keeps
// finding what is left, and grows again for the next burst.
TEST(FlatMap, GivesTheMemoryOfAPeakBackAndKeepsTheRest) {
  FlatMap<int, int> m;
  for (int round = 0; round < 2; ++round) {
    for (int k = 0; k < 10000; ++k) m.insert_or_assign(k, k + round);
    EXPECT_EQ(m.capacity(), 16384u);
    for (int k = 10; k < 10000; ++k) ASSERT_TRUE(m.erase(k)) << k;
    EXPECT_EQ(m.size(), 10u);
    EXPECT_EQ(m.capacity(), 64u);  // halved at 1/8 full each time, down to 1/4 full or less
    for (int k = 0; k < 10000; ++k) {
      const int* v = m.find(k);
      if (k < 10) {
        ASSERT_NE(v, nullptr) << k;
        EXPECT_EQ(*v, k + round);
      } else {
        ASSERT_EQ(v, nullptr) << k;
      }
    }
  }
  for (int k = 0; k < 10; ++k) ASSERT_TRUE(m.erase(k));
  EXPECT_EQ(m.capacity(), 16u);
  EXPECT_TRUE(m.empty());
}

TEST(SmallVector, MatchesStdVectorAcrossTheInlineBoundary) {
  SmallVector<int, 2> small;
  std::vector<int> model;
  std::mt19937 rng(7);
  for (int step = 0; step < 5000; ++step) {
    if (rng() % 2 != 0 && model.size() < 6) {
      small.push_back(step);
      model.push_back(step);
    } else {
      const int mod = static_cast<int>(rng() % 3 + 2);
      small.erase_if([&](int v) { return v % mod == 0; });
      std::erase_if(model, [&](int v) { return v % mod == 0; });
    }
    ASSERT_EQ(small.size(), model.size());
    ASSERT_TRUE(std::equal(small.begin(), small.end(), model.begin(), model.end())) << "step " << step;
    ASSERT_EQ(small.inline_storage(), model.size() <= 2) << "step " << step;
  }
}

TEST(SmallVector, ComesBackInlineWithTheSurvivorsInOrder) {
  SmallVector<int, 2> v;
  for (int x : {10, 20, 30, 40, 50}) v.push_back(x);
  EXPECT_FALSE(v.inline_storage());
  v.erase_if([](int x) { return x == 10 || x == 20 || x == 50; });
  EXPECT_TRUE(v.inline_storage());
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0], 30);
  EXPECT_EQ(v[1], 40);
  v.push_back(60);  // and out again, with all three
  EXPECT_FALSE(v.inline_storage());
  EXPECT_EQ(std::vector<int>(v.begin(), v.end()), (std::vector<int>{30, 40, 60}));
  v.erase_if([](int x) { return x != 60; });
  EXPECT_EQ(std::vector<int>(v.begin(), v.end()), (std::vector<int>{60}));
}
