// A first-in first-out queue in blocks of elements, which keeps the blocks
// it empties for reuse. Once it has held the most it will hold, push_back
// and pop_front allocate nothing, and it never holds more blocks than that
// peak needs: std::deque allocates and frees a block for every 512 bytes
// of elements (for the in-flight table, an allocation every nine tasks),
// and a doubling array would copy itself and keep up to twice the peak.
#pragma once

#include <cstddef>
#include <memory>
#include <utility>
#include <vector>

namespace zpipe {

template <class T, std::size_t block_elements = 4096>
class RingBuffer {
 public:
  void push_back(T value) {
    const std::size_t at = head_ + size_;
    if (at / block_elements == blocks_.size()) {
      if (spare_.empty()) {
        blocks_.push_back(std::make_unique<T[]>(block_elements));
      } else {
        blocks_.push_back(std::move(spare_.back()));
        spare_.pop_back();
      }
    }
    (*this)[size_] = std::move(value);
    ++size_;
  }
  /// Drops the first element; what it owns is freed now, not when its slot is reused.
  void pop_front() {
    front() = T{};
    --size_;
    if (++head_ == block_elements) {
      spare_.push_back(std::move(blocks_.front()));
      blocks_.erase(blocks_.begin());  // a vector of a few pointers per 4096 elements
      head_ = 0;
    }
  }
  [[nodiscard]] T& front() { return (*this)[0]; }
  [[nodiscard]] const T& front() const { return (*this)[0]; }
  [[nodiscard]] T& operator[](std::size_t i) {
    const std::size_t at = head_ + i;
    return blocks_[at / block_elements][at % block_elements];
  }
  [[nodiscard]] const T& operator[](std::size_t i) const {
    const std::size_t at = head_ + i;
    return blocks_[at / block_elements][at % block_elements];
  }
  [[nodiscard]] std::size_t size() const { return size_; }
  [[nodiscard]] bool empty() const { return size_ == 0; }

 private:
  std::vector<std::unique_ptr<T[]>> blocks_;  // blocks_[0] holds the front, at head_
  std::vector<std::unique_ptr<T[]>> spare_;   // emptied blocks, for the next push_backs
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};

}  // namespace zpipe
