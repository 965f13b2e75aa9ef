// Credit bookkeeping on the worker's side, in task frames. `window` is what
// the ventilator believes this worker may hold: frames it holds plus credits
// the ventilator has yet to spend. Frames finished but not yet returned are
// `owed`.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>

namespace zpipe {

class CreditWindow {
 public:
  explicit CreditWindow(std::uint32_t initial) : initial_(initial) {}

  /// A new introduction: the window starts again at its initial size.
  std::uint32_t reset() {
    window_ = initial_;
    owed_ = 0;
    return window_;
  }
  void finished(std::uint32_t frames) { owed_ += frames; }
  /// Caps growth at doubling per return: a window grows only as fast as
  /// measurements confirm that tasks stay quick.
  [[nodiscard]] std::uint32_t at_most_doubled(std::uint32_t wanted) const { return std::min(wanted, 2 * window_); }

  /// The credits to hand back now (0 when the window shrinks by what is
  /// owed), or nullopt to wait for more to gather.
  [[nodiscard]] std::optional<std::uint32_t> due(std::uint32_t wanted_window, bool idle) const {
    const std::int64_t give = std::max<std::int64_t>(0, std::int64_t{owed_} + wanted_window - window_);
    if (give == 0 && owed_ == 0) return std::nullopt;
    if (!idle && give < std::max<std::int64_t>(1, window_ / 4)) return std::nullopt;
    return static_cast<std::uint32_t>(give);
  }
  /// `give` credits (what due() said) reached the ventilator's queue. Until
  /// then nothing changes: a credit that could not be sent is owed still.
  void returned(std::uint32_t give) {
    window_ = window_ - owed_ + give;
    owed_ = 0;
  }
  /// due() and returned() at once; returns the credits to send (0: none).
  std::uint32_t to_return(std::uint32_t wanted_window, bool idle) {
    const auto give = due(wanted_window, idle);
    if (!give) return 0;
    returned(*give);
    return *give;
  }

  [[nodiscard]] std::uint32_t window() const { return window_; }
  [[nodiscard]] std::uint32_t owed() const { return owed_; }

 private:
  std::uint32_t initial_;
  std::uint32_t window_ = 0;
  std::uint32_t owed_ = 0;
};

}  // namespace zpipe
