// A log-linear latency histogram in the manner of HdrHistogram: 64 sub-buckets per power of
// two of nanoseconds, so every recorded value is kept to within 1.6%, in fixed memory.
#pragma once

#include <array>
#include <bit>
#include <cstdint>

namespace hush::loadtest {

class Histogram {
 public:
  void record(std::uint64_t ns) {
    ++counts_[index(ns)];
    ++total_;
    if (ns > max_) max_ = ns;
  }
  void merge(const Histogram& o) {
    for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += o.counts_[i];
    total_ += o.total_;
    if (o.max_ > max_) max_ = o.max_;
  }
  std::uint64_t count() const { return total_; }
  std::uint64_t max() const { return max_; }
  // The value at quantile q (0..1), as the upper edge of its bucket.
  std::uint64_t quantile(double q) const {
    if (total_ == 0) return 0;
    const auto want = static_cast<std::uint64_t>(q * static_cast<double>(total_ - 1)) + 1;
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen >= want) return upper(i) < max_ ? upper(i) : max_;
    }
    return max_;
  }

 private:
  static constexpr int kSub = 6;  // 64 sub-buckets
  static std::size_t index(std::uint64_t v) {
    if (v < (1u << kSub)) return static_cast<std::size_t>(v);
    const int exp = 63 - std::countl_zero(v);  // >= kSub
    const auto sub = static_cast<std::size_t>((v >> (exp - kSub)) & ((1u << kSub) - 1));
    return static_cast<std::size_t>((exp - kSub + 1) << kSub) + sub;
  }
  static std::uint64_t upper(std::size_t i) {
    if (i < (1u << kSub)) return i;
    const int exp = static_cast<int>(i >> kSub) + kSub - 1;
    const std::uint64_t sub = i & ((1u << kSub) - 1);
    return ((std::uint64_t{1} << kSub) + sub + 1) << (exp - kSub);
  }
  std::array<std::uint64_t, (64 - kSub + 1) << kSub> counts_{};
  std::uint64_t total_ = 0;
  std::uint64_t max_ = 0;
};

}  // namespace hush::loadtest
