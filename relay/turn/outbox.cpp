#include "hush/turn/outbox.hpp"

namespace hush::turn {

Outbox::Outbox(std::size_t max_transmits, std::size_t scratch_bytes)
    : items_(max_transmits), scratch_(scratch_bytes < kMaxResponse ? kMaxResponse : scratch_bytes) {}

MutableBytes Outbox::scratch() {
  const std::size_t room = scratch_.size() - used_;
  return {scratch_.data() + used_, room < kMaxResponse ? room : kMaxResponse};
}

Bytes Outbox::commit(std::size_t used) {
  Bytes b{scratch_.data() + used_, used};
  used_ += (used + 7) & ~std::size_t{7};
  if (used_ > scratch_.size()) used_ = scratch_.size();
  return b;
}

bool Outbox::send(const Transmit& t) {
  if (count_ == items_.size()) {
    ++overflow_drops_;
    return false;
  }
  items_[count_++] = t;
  return true;
}

}  // namespace hush::turn
