// An uninitialised, 64-byte-aligned scratch array, allocated once per kernel call.
#pragma once

#include <cstdlib>
#include <cstring>
#include <new>

namespace lstmx {

template <class T>
class Buffer {
 public:
  Buffer() = default;
  explicit Buffer(long n) { resize(n); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer() { std::free(p_); }

  void resize(long n) {
    std::free(p_);
    p_ = nullptr;
    if (n <= 0) return;
    const size_t bytes = ((size_t(n) * sizeof(T) + 63) / 64) * 64;
    p_ = static_cast<T*>(std::aligned_alloc(64, bytes));
    if (!p_) throw std::bad_alloc();
  }
  void zero(long n) { std::memset(p_, 0, size_t(n) * sizeof(T)); }
  T* get() const { return p_; }

 private:
  T* p_ = nullptr;
};

}  // namespace lstmx
