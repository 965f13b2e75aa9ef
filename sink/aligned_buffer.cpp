// See aligned_buffer.hpp.
#include "aligned_buffer.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

namespace zpipe {

AlignedBuffer::~AlignedBuffer() { std::free(data_); }

void AlignedBuffer::reserve(std::size_t bytes) {
  if (bytes <= capacity_) return;
  const std::size_t capacity = std::max((bytes + block_bytes - 1) / block_bytes * block_bytes, 2 * capacity_);
  auto* grown = static_cast<char*>(std::aligned_alloc(block_bytes, capacity));
  if (grown == nullptr) throw std::bad_alloc();
  if (size_ > 0) std::memcpy(grown, data_, size_);
  std::free(data_);
  data_ = grown;
  capacity_ = capacity;
}

void AlignedBuffer::append(const char* bytes, std::size_t count) {
  if (count == 0) return;
  reserve(size_ + count);
  std::memcpy(data_ + size_, bytes, count);
  size_ += count;
}

std::size_t AlignedBuffer::pad_to_block() {
  const std::size_t padded = (size_ + block_bytes - 1) / block_bytes * block_bytes;
  reserve(padded);  // never allocates: the capacity is whole blocks
  std::memset(data_ + size_, 0, padded - size_);
  size_ = padded;
  return padded;
}

void AlignedBuffer::swap(AlignedBuffer& other) noexcept {
  std::swap(data_, other.data_);
  std::swap(size_, other.size_);
  std::swap(capacity_, other.capacity_);
}

}  // namespace zpipe
