// The packet path's lookups: a hash map with its keys and values in one array of slots (open
// addressing, linear probing), so a lookup costs one cache miss where a node-based map costs
// two or three (bucket, node, then the value). Erasing shifts the rest of the cluster back
// instead of leaving tombstones, so a lookup never walks past the cluster its key hashes into.
// The table doubles at 3/4 full and halves at 1/8 full (to 1/4: far from doubling again), so
// the memory of a peak is given back when it has passed. Erasing may move the other entries.
// K and V are small and copyable.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

namespace hush {

template <class K, class V, class Hash = std::hash<K>>
class FlatMap {
 public:
  V* find(const K& key) {
    if (size_ == 0) return nullptr;
    for (std::size_t i = home(key);; i = next(i)) {
      Slot& s = slots_[i];
      if (!s.used) return nullptr;
      if (s.key == key) return &s.value;
    }
  }
  const V* find(const K& key) const { return const_cast<FlatMap*>(this)->find(key); }
  // Starts loading the slot `key` hashes to, for a find() a little later.
  void prefetch(const K& key) const {
    if (size_ != 0) __builtin_prefetch(&slots_[home(key)]);
  }

  // Inserts or replaces.
  void insert_or_assign(const K& key, const V& value) {
    if ((size_ + 1) * 4 > slots_.size() * 3) rehash(slots_.empty() ? kMinCapacity : slots_.size() * 2);
    for (std::size_t i = home(key);; i = next(i)) {
      Slot& s = slots_[i];
      if (!s.used) {
        s = Slot{key, true, value};
        ++size_;
        return;
      }
      if (s.key == key) {
        s.value = value;
        return;
      }
    }
  }

  bool erase(const K& key) {
    if (size_ == 0) return false;
    std::size_t hole = home(key);
    for (;; hole = next(hole)) {
      if (!slots_[hole].used) return false;
      if (slots_[hole].key == key) break;
    }
    // Move back every later member of the cluster whose home is not between the hole and it.
    for (std::size_t j = next(hole); slots_[j].used; j = next(j)) {
      const std::size_t h = home(slots_[j].key);
      const bool stays = hole < j ? (hole < h && h <= j) : (hole < h || h <= j);
      if (stays) continue;
      slots_[hole] = slots_[j];
      hole = j;
    }
    slots_[hole] = Slot{};
    --size_;
    if (slots_.size() > kMinCapacity && size_ * 8 <= slots_.size()) rehash(slots_.size() / 2);
    return true;
  }

  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  std::size_t capacity() const { return slots_.size(); }
  static constexpr std::size_t slot_size() { return sizeof(Slot); }

 private:
  struct Slot {  // the flag between key and value: a FiveTuple's slot packs into 32 bytes
    K key{};
    bool used = false;
    V value{};
  };

  // Fibonacci hashing: the top bits of the product, so keys whose hashes differ only in
  // their high or low bits still spread over the whole table.
  std::size_t home(const K& key) const {
    return static_cast<std::size_t>((static_cast<std::uint64_t>(Hash{}(key)) * 0x9E3779B97F4A7C15ull) >> shift_);
  }
  std::size_t next(std::size_t i) const { return (i + 1) & (slots_.size() - 1); }

  static constexpr std::size_t kMinCapacity = 16;

  void rehash(std::size_t capacity) {
    std::vector<Slot> old = std::move(slots_);
    slots_ = std::vector<Slot>(capacity);
    shift_ = 64 - static_cast<unsigned>(std::countr_zero(capacity));
    size_ = 0;
    for (const Slot& s : old)
      if (s.used) insert_or_assign(s.key, s.value);
  }

  std::vector<Slot> slots_;
  std::size_t size_ = 0;
  unsigned shift_ = 64;
};

}  // namespace hush
