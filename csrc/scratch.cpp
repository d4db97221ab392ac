#include "scratch.hpp"

#include <cstdint>
#include <cstdlib>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace lstmx {
namespace {

constexpr size_t kPage = size_t(2) << 20;

size_t round_up(size_t n, size_t m) { return (n + m - 1) / m * m; }

#if defined(__linux__)
// `len` bytes (a multiple of kPage) at a kPage-aligned address, offered to the kernel for
// huge pages. An anonymous mapping a page longer than asked is trimmed to the aligned part.
void* map_block(size_t len) {
  void* raw = mmap(nullptr, len + kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return nullptr;
  const uintptr_t r = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t a = round_up(r, kPage);
  if (a > r) munmap(raw, a - r);
  const uintptr_t end = r + len + kPage;
  if (end > a + len) munmap(reinterpret_cast<void*>(a + len), end - (a + len));
  void* p = reinterpret_cast<void*>(a);
#ifdef MADV_HUGEPAGE
  madvise(p, len, MADV_HUGEPAGE);  // a hint: without THP the block is plain 4 KiB pages
#endif
  return p;
}
void unmap_block(void* p, size_t len) { munmap(p, len); }
#else
void* map_block(size_t len) { return std::aligned_alloc(kPage, len); }
void unmap_block(void* p, size_t) { std::free(p); }
#endif

struct ThreadScratch {
  void* block[int(Scratch::kCount)] = {};
  size_t size[int(Scratch::kCount)] = {};
  ~ThreadScratch() {
    for (int s = 0; s < int(Scratch::kCount); ++s)
      if (block[s]) unmap_block(block[s], size[s]);
  }
};

}  // namespace

void* thread_scratch(Scratch slot, size_t bytes) {
  if (bytes > kMaxScratchBytes) return nullptr;
  thread_local ThreadScratch mine;
  const int s = int(slot);
  if (mine.size[s] < bytes || !mine.block[s]) {
    if (mine.block[s]) unmap_block(mine.block[s], mine.size[s]);
    const size_t len = round_up(bytes > 0 ? bytes : 1, kPage);
    mine.block[s] = map_block(len);
    mine.size[s] = mine.block[s] ? len : 0;
  }
  return mine.block[s];
}

}  // namespace lstmx
