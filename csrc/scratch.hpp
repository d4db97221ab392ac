// Scratch memory a thread keeps from one kernel call to the next, on 2 MiB pages where the
// operating system grants them (Linux transparent huge pages, `madvise` mode or `always`).
//
// Why: at batch 1 each thread streams its packed part of W_hh (plus the input product's
// W_ih panels) from its L2 at every time step, a working set the size of the whole L2.
// With 4 KiB pages where those buffers land in physical memory decides how evenly they fill
// the L2's sets, and so how much of them stays there: on the 2-core development VM the same
// lat-b1 call took 0.71 ms or 0.80-0.86 ms depending on it, changing from process to process
// and when the heap layout changed. A 2 MiB page maps its bytes to the sets in order, so the
// packed weights fill them evenly wherever the host backs the page with contiguous memory
// (inside a VM that is not certain: some processes still run slower, README "Where the
// buffers lie"); keeping the blocks also spares each call the allocation. The cost is memory
// held between calls: at most kMaxScratchBytes per slot and thread (lat-b1: 2 MiB per block,
// one block each).
#pragma once

#include <cstddef>

namespace lstmx {

enum class Scratch : int {
  kPackedRecurrent = 0,  // RecurrentWeights' packed W_hh (batch 1), on the calling thread
  kInputPanels = 1,      // FusedInput's packed W_ih, on each thread of the team
  kGates = 2,            // a forward call's pre-activations at batch 1, on the calling thread
  kCount = 3
};

constexpr size_t kMaxScratchBytes = size_t(8) << 20;

// This thread's block for `slot`, 64-byte aligned, with room for `bytes` bytes (grown when
// needed; contents unspecified). Valid until this thread asks for the same slot again, or
// exits. Null when `bytes` exceeds kMaxScratchBytes or memory cannot be had: the caller then
// allocates memory of its own.
void* thread_scratch(Scratch slot, size_t bytes);

}  // namespace lstmx
