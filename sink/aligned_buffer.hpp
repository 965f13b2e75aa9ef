// Bytes in memory aligned to a block, as O_DIRECT wants them: the journal
// appends records here and its writer writes whole blocks from it. It grows
// and never shrinks, and its capacity is always whole blocks, so padding to
// a block never allocates.
#pragma once

#include <cstddef>

namespace zpipe {

class AlignedBuffer {
 public:
  /// O_DIRECT needs offsets, lengths and memory aligned to the device's
  /// logical block, 512 bytes or 4 KiB: 4 KiB serves both.
  static constexpr std::size_t block_bytes = 4096;

  AlignedBuffer() = default;
  ~AlignedBuffer();
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;

  /// Makes room for `bytes` in all; throws std::bad_alloc.
  void reserve(std::size_t bytes);
  void append(const char* bytes, std::size_t count);
  /// Zeros from size() up to the next block boundary; returns the new size.
  std::size_t pad_to_block();
  void clear() { size_ = 0; }
  void swap(AlignedBuffer& other) noexcept;

  [[nodiscard]] const char* data() const { return data_; }
  [[nodiscard]] std::size_t size() const { return size_; }
  [[nodiscard]] std::size_t capacity() const { return capacity_; }

 private:
  char* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
};

}  // namespace zpipe
