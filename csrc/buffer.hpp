// An uninitialised, 64-byte-aligned scratch array, allocated once per kernel call, or lent
// from the calling thread's kept scratch blocks (scratch.hpp).
#pragma once

#include <cstdlib>
#include <cstring>
#include <new>

#include "scratch.hpp"

namespace lstmx {

template <class T>
class Buffer {
 public:
  Buffer() = default;
  explicit Buffer(long n) { resize(n); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer() { release(); }

  void resize(long n) {
    release();
    if (n <= 0) return;
    const size_t bytes = ((size_t(n) * sizeof(T) + 63) / 64) * 64;
    p_ = static_cast<T*>(std::aligned_alloc(64, bytes));
    if (!p_) throw std::bad_alloc();
  }
  // n elements of this thread's scratch block `slot` (not freed by this Buffer; valid until
  // the thread asks for that slot again), or memory of its own where the block cannot serve.
  void use_scratch(Scratch slot, long n) {
    release();
    if (n <= 0) return;
    if (void* p = thread_scratch(slot, size_t(n) * sizeof(T))) {
      p_ = static_cast<T*>(p);
      owned_ = false;
      return;
    }
    resize(n);
  }
  void zero(long n) { std::memset(p_, 0, size_t(n) * sizeof(T)); }
  T* get() const { return p_; }

 private:
  void release() {
    if (owned_) std::free(p_);
    p_ = nullptr;
    owned_ = true;
  }

  T* p_ = nullptr;
  bool owned_ = true;
};

}  // namespace lstmx
