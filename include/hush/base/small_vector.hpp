// A vector whose first N elements live inside the object. Permissions and channel bindings
// are read on every relayed packet and an allocation rarely has more than one or two of each:
// inline, they share the allocation's cache lines instead of costing a miss each on a heap
// buffer of their own. Past N the elements move to the heap, all of them, and come back inline
// when erasing brings them down to N again.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <type_traits>
#include <vector>

namespace hush {

template <class T, std::size_t N>
class SmallVector {
  static_assert(std::is_trivially_copyable_v<T> && std::is_default_constructible_v<T>);

 public:
  T* begin() { return data(); }
  T* end() { return data() + size_; }
  const T* begin() const { return data(); }
  const T* end() const { return data() + size_; }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  T& operator[](std::size_t i) { return data()[i]; }
  const T& operator[](std::size_t i) const { return data()[i]; }
  std::span<const T> items() const { return {data(), size_}; }
  bool inline_storage() const { return heap_.empty(); }

  void push_back(const T& v) {
    if (heap_.empty() && size_ < N) {
      inline_[size_++] = v;
      return;
    }
    if (heap_.empty()) heap_.assign(inline_.begin(), inline_.begin() + size_);
    heap_.push_back(v);
    ++size_;
  }

  template <class Pred>
  void erase_if(Pred pred) {
    T* d = data();
    std::size_t kept = 0;
    for (std::size_t i = 0; i < size_; ++i)
      if (!pred(static_cast<const T&>(d[i]))) d[kept++] = d[i];
    size_ = static_cast<std::uint32_t>(kept);
    if (heap_.empty()) return;
    heap_.resize(kept);
    if (kept <= N) {
      for (std::size_t i = 0; i < kept; ++i) inline_[i] = heap_[i];
      std::vector<T>().swap(heap_);  // gives the memory back
    }
  }

 private:
  T* data() { return heap_.empty() ? inline_.data() : heap_.data(); }
  const T* data() const { return heap_.empty() ? inline_.data() : heap_.data(); }

  std::array<T, N> inline_{};
  std::vector<T> heap_;  // all elements once there are more than N, else empty
  std::uint32_t size_ = 0;
};

}  // namespace hush
