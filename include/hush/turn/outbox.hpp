// What the core asks the worker to send. Fixed capacity, filled during one receive batch and
// flushed with sendmmsg; payloads point into receive buffers (no copy) or into the scratch area.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "hush/base/address.hpp"
#include "hush/base/bytes.hpp"

namespace hush::turn {

struct Transmit {
  enum class Via : std::uint8_t { listener, relay };
  Via via;
  std::uint32_t socket;  // listener index, or relay handle
  Endpoint to;
  const std::byte* data;
  std::uint32_t size;
};

class Outbox {
 public:
  static constexpr std::size_t kMaxResponse = 1024;

  Outbox(std::size_t max_transmits, std::size_t scratch_bytes);

  // Room for one response; commit() what was used.
  MutableBytes scratch();
  Bytes commit(std::size_t used);

  bool send(const Transmit& t);  // false (and counted) when full
  std::span<const Transmit> transmits() const { return {items_.data(), count_}; }
  std::size_t room() const { return items_.size() - count_; }  // transmits that still fit
  bool full() const { return count_ == items_.size() || scratch_.size() - used_ < kMaxResponse; }
  void clear() {
    count_ = 0;
    used_ = 0;
  }
  std::uint64_t overflow_drops() const { return overflow_drops_; }

 private:
  std::vector<Transmit> items_;
  std::vector<std::byte> scratch_;
  std::size_t count_ = 0;
  std::size_t used_ = 0;
  std::uint64_t overflow_drops_ = 0;
};

}  // namespace hush::turn
