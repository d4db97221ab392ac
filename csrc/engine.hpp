// The time loops of the recurrent engine (sequence.hpp). A cell policy supplies the pointwise
// step and its states; the engine does the matrix products, the threading and the options
// that act on whole vectors (the recurrent-dropout mask). This file holds the units schedule
// and what both schedules share; row_schedule.cpp the rows schedule.
//
// units schedule
// forward   Gx = X · W_ihᵀ + b          one GEMM over all T·B rows (columns split over threads)
//           per step: thread p owns hidden blocks [k0, k1); it computes (m ⊙ h_{t-1}) · W_hhᵀ
//           for all gates of its units, applies the gate math to them, writes its slice of h_t
//           (and of m ⊙ h_t), then one barrier (the next step needs all of h_t).
//           Batch 1 (float32, AVX-512) differs: the input GEMM runs inside the time loop
//           (FusedInput, 1/8 of the next 8 steps' rows per step), and the part of the next
//           step's product over the thread's own units of h_t runs between arriving at the
//           barrier and waiting there (StepBarrier::arrive / wait).
// backward  per step: thread p applies the gate backward to its units (writing dG_t), one
//           barrier, then dh_{t-1}[:, its units] += m ⊙ (dG_t · W_hh[:, its units]); the next
//           step reads only its own units, so one barrier per step is enough.
//           after the loop (weight_gradients, both schedules): dX = dGx · W_ih,
//           dW_ih = dGxᵀ · X, dW_hh = dGhᵀ · (m ⊙ H_prev) (K = T·B) and the bias sums, each
//           split over threads by output rows or columns.
//
// Lengths: at steps t >= lengths[b] a row's state is carried over unchanged and its output is
// zero (PyTorch's PackedSequence semantics); in backward its gradients pass straight through.
#pragma once

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "blas.hpp"
#include "quantized.hpp"
#include "recurrent_weights.hpp"
#include "sequence.hpp"

namespace lstmx {

inline long seq_length(const int64_t* lengths, long b, long T) { return lengths ? long(lengths[b]) : T; }

// A forward call's own pre-activations, (steps·B, width). At batch 1 they belong to the
// L2-bound step's working set, so they are lent from the thread's kept block (scratch.hpp).
template <class T>
void gates_buffer(Buffer<T>& gates, long steps, long B, long width) {
  if (B == 1) gates.use_scratch(Scratch::kGates, steps * width);
  else gates.resize(steps * B * width);
}

// The states entering each step: in training the workspace keeps all T+1 of them (backward
// needs them); in inference two slots are enough.
template <class T>
class StateSlots {
 public:
  StateSlots(T* all, long B, long H) : B_(B), H_(H) {
    if (all) {
      p_ = all;
      every_ = true;
    } else {
      own_.resize(2 * B * H);
      p_ = own_.get();
    }
  }
  T* at(long t) const { return p_ + (every_ ? t : (t & 1)) * B_ * H_; }
  void init(const T* v) {
    if (v) std::memcpy(at(0), v, B_ * H_ * sizeof(T));
    else std::fill_n(at(0), B_ * H_, T(0));
  }

 private:
  long B_, H_;
  bool every_ = false;
  T* p_ = nullptr;
  Buffer<T> own_;
};

// What the recurrent product reads: h_{t-1} itself, or m ⊙ h_{t-1} under recurrent dropout
// (two slots of its own; each thread writes its units of step t+1 after its gate math).
template <class T>
class RecurrentInput {
 public:
  RecurrentInput(const T* mask, long B, long H, const StateSlots<T>& h)
      : mask_(mask), B_(B), H_(H), h_(h), masked_(nullptr, mask ? B : 0, H) {
    if (mask_) put(0, 0, B, 0, H);
  }
  const T* at(long t) const { return mask_ ? masked_.at(t) : h_.at(t); }
  // rows [b0, b1), units [u0, u1) of step t's input
  void put(long t, long b0, long b1, long u0, long u1) {
    if (!mask_) return;
    for (long b = b0; b < b1; ++b) {
      const T* h = h_.at(t) + b * H_;
      const T* m = mask_ + b * H_;
      T* o = masked_.at(t) + b * H_;
      for (long u = u0; u < u1; ++u) o[u] = h[u] * m[u];
    }
  }

 private:
  const T* mask_;
  long B_, H_;
  const StateSlots<T>& h_;
  StateSlots<T> masked_;
};

// b_ih and b_hh of a call, or zeros for a layer without biases.
template <class T>
struct Biases {
  Buffer<T> zero;
  const T *ih, *hh;
  Biases(const Recurrent<T>& a, long GH) : ih(a.b_ih), hh(a.b_hh) {
    if (ih && hh) return;
    zero.resize(GH);
    zero.zero(GH);
    ih = hh = zero.get();
  }
};

// Cell policy, forward (units schedule):
//   static constexpr int G;
//   static bool step_bias_gate(int g);   gates whose b_hh is added inside the step (GRU's n)
//   T* gx();                             (T·B, G·H) buffer that receives X · W_ihᵀ + bias
//   StateSlots<T>& h();                  (B, H) state entering each step
//   void step(long t, long b, long u0, int n, const T* gh);   gh: gate stride BS
//   void hold(long t, long b, long u0, int n);                step past the row's end
//   void finish();                        writes h_n (and c_n)
// The recurrent product of the units schedule with quantized weights (quantized.hpp), in
// RecurrentWeights' interface: W_hh packed in units order, so that the panels of hidden
// blocks [k0, k1) are [k0·G, k1·G) and the output has RecurrentWeights' columns. Each thread
// quantizes all of h_{t-1} itself (B·H values, against its share of B·G·H·H products) rather
// than wait at a second barrier for a shared copy.
template <class T>
class QuantizedRecurrent {
 public:
  // bias: G·H values in PyTorch's order, added to the gates with `bias_gate[g]`, or null
  QuantizedRecurrent(const quant::Matrix& w, long H, long B, const T* bias, const bool* bias_gate)
      : w_(w), rows_(num_threads()), bias_(w.panels * BS) {
    for (auto& r : rows_) r.reserve(w, B);
    for (long c = 0; c < w.panels * BS; ++c) {
      const long n = w.row[c];
      bias_.get()[c] = (bias && n >= 0 && bias_gate[n / H]) ? bias[n] : T(0);
    }
  }
  long blocks() const { return w_.panels / w_.gates; }
  long out_cols() const { return w_.panels * BS; }
  void pack(long, long) {}
  void step(const T* h, long B, long k0, long k1, T* out) {
    quant::Rows& r = rows_[thread_index()];
    r.fill(h, w_.K, 0, B);
    quant::product(w_, r, 0, B, k0 * w_.gates, k1 * w_.gates, out, out_cols(), out_cols(), bias_.get(), false);
  }

 private:
  const quant::Matrix& w_;
  std::vector<quant::Rows> rows_;
  Buffer<T> bias_;
};

template <class T, class Cell>
void forward_engine(const Recurrent<T>& a, Cell& cell) {
  constexpr int G = Cell::G;
  const long TB = a.T * a.B, GH = G * a.H, H = a.H;
  const Biases<T> bias(a, GH);

  bool bias_gate[G];
  bool any_step_bias = false;
  for (int g = 0; g < G; ++g) any_step_bias |= (bias_gate[g] = Cell::step_bias_gate(g));
  Buffer<T> bx(GH);  // b_ih plus the parts of b_hh that can be folded into Gx
  for (int g = 0; g < G; ++g)
    for (long u = 0; u < H; ++u)
      bx.get()[g * H + u] = bias.ih[g * H + u] + (bias_gate[g] ? T(0) : bias.hh[g * H + u]);

  // Where no gate keeps a bias inside the step (LSTM, RNN), all of it is added to the
  // recurrent product's output, B rows per step, instead of being copied into all T·B rows
  // of Gx before the input GEMM. GRU's n gate needs b_in in Gx and b_hn in the step.
  const bool bias_in_step = !any_step_bias;
  bool every_gate[G];
  std::fill(every_gate, every_gate + G, true);
  const T* step_bias = bias_in_step ? bx.get() : bias.hh;
  const bool* step_gates = bias_in_step ? every_gate : bias_gate;
  // Batch 1 (float32, AVX-512): the input product runs inside the recurrent step
  // (FusedInput), where the L2-bound product leaves the FMA units time for it.
  bool fuse = false, quantized = false;
  if constexpr (std::is_same_v<T, float>) {
    quantized = a.q_hh != nullptr;
    fuse = a.B == 1 && avx512::enabled() && !quantized;
  }
  T* gx = cell.gx();
  RecurrentInput<T> input(a.mask, a.B, H, cell.h());
  const int nt = num_threads();

  if constexpr (std::is_same_v<T, float>) {
    if (quantized) quant::team_product(*a.q_ih, a.x, TB, gx, bias_in_step ? nullptr : bx.get(), nt);
  }
  if (!fuse && !quantized) {
#pragma omp parallel num_threads(threads_for_region(2.0 * TB * GH * a.I, nt))
    {
      // Columns, not rows, are split (in whole 32-column panels): each thread then packs
      // only its share of W_ih, the product's packed operand. With few rows packing all of
      // W_ih on every thread cost about as much as its share of the product.
      long j0, j1;
      split_range((GH + 31) / 32, team_size(), thread_index(), j0, j1);
      j0 = std::min(GH, j0 * 32);
      j1 = std::min(GH, j1 * 32);
      if (!bias_in_step && j1 > j0)
        for (long r = 0; r < TB; ++r) std::memcpy(gx + r * GH + j0, bx.get() + j0, (j1 - j0) * sizeof(T));
      gemm(false, true, TB, j1 - j0, a.I, T(1), a.x, a.I, a.w_ih + j0 * a.I, a.I,
           bias_in_step ? T(0) : T(1), gx + j0, GH);
    }
  }

  // The time loop, over either kind of recurrent weights (RecurrentWeights, QuantizedRecurrent).
  auto time_loop = [&](auto& rw) {
    Buffer<T> gh(a.B * rw.out_cols());
    const long ld = rw.out_cols();
    // the step's product: the recurrent one, and at batch 1 its share of the input one
    const double step_flops = 2.0 * a.B * GH * H + (fuse ? 2.0 * GH * a.I : 0.0);
    const int nl = threads_for_steps(step_flops, H, int(std::min<long>(nt, rw.blocks())));
    StepBarrier barrier(nl);
    LoopMeter meter(barrier);
#pragma omp parallel num_threads(nl)
    {
#pragma omp single
      barrier.set_size(team_size());
      long k0, k1;
      split_range(rw.blocks(), team_size(), thread_index(), k0, k1);
      rw.pack(k0, k1);  // only this thread reads blocks [k0, k1): no barrier needed
      auto gate_math = [&](long t) {
        for (long b = 0; b < a.B; ++b) {
          const bool live = t < seq_length(a.lengths, b, a.T);
          for (long k = k0; k < k1; ++k) {
            const long u0 = k * BS;
            const int n = int(std::min(BS, H - u0));
            if (live) cell.step(t, b, u0, n, gh.get() + b * ld + k * G * BS);
            else cell.hold(t, b, u0, n);
          }
        }
        input.put(t + 1, 0, a.B, std::min(H, k0 * BS), std::min(H, k1 * BS));
      };
      if constexpr (std::is_same_v<std::decay_t<decltype(rw)>, RecurrentWeights<float>>) {
        if (fuse) {
          // Each thread computes (and later reads) only its own units' columns of gx. The
          // recurrent product over the thread's own units of h_t needs nothing from the
          // others, so it runs between arriving at the step's barrier and waiting there.
          FusedInput in(G, H, a.I, a.T, a.w_ih, a.x, gx, bias_in_step ? nullptr : bx.get(), k0, k1);
          in.start();
          // With h_0 = 0 (no state given, or zeros) and finite weights, step 0's recurrent
          // product is its bias: only the step's share of the input product runs.
          const T* h0 = input.at(0);
          if (rw.product_is_zero(h0, k0, k1)) {
            rw.step_fused_zero(k0, k1, gh.get(), in, 0);
          } else {
            rw.step_fused(h0, k0, k1, gh.get(), in, 0, 0, false);
            rw.step_fused(h0, k0, k1, gh.get(), in, 0, 1, true);
          }
          for (long t = 0; t < a.T; ++t) {
            if (t > 0)  // the rest of the product, over the other threads' units
              rw.step_fused(input.at(t), k0, k1, gh.get(), in, t, 1, true);
            gate_math(t);
            if (t + 1 < a.T) {
              const unsigned ticket = barrier.arrive();
              rw.step_fused(input.at(t + 1), k0, k1, gh.get(), in, t + 1, 0, false);
              barrier.wait(ticket);  // the rest of the next step reads all of h_t
            }
          }
        }
      }
      if (!fuse) {
        for (long t = 0; t < a.T; ++t) {
          rw.step(input.at(t), a.B, k0, k1, gh.get());
          gate_math(t);
          barrier.wait();  // the next step reads all of h_t
        }
      }
    }
    meter.done();
  };
  if constexpr (std::is_same_v<T, float>) {
    if (quantized) {
      QuantizedRecurrent<T> qw(*a.q_hh, H, a.B, step_bias, step_gates);
      time_loop(qw);
      cell.finish();
      return;
    }
  }
  RecurrentWeights<T> rw(G, H, a.B, a.w_hh, step_bias, step_gates, /*own_first=*/fuse);
  time_loop(rw);
  cell.finish();
}

// After the time loop, both schedules: dX = dGx · W_ih, dW_ih = dGxᵀ · X,
// dW_hh = dGhᵀ · (m ⊙ H_prev), dW_hr = dHᵀ · Rs (projection), and the bias sums.
// dgh may equal dgx; dhs (T·B, R) and the projection's operands only with a.w_hr.
template <class T>
void weight_gradients(const Recurrent<T>& a, const T* dgx, const T* dgh, const T* dhs) {
  const long TB = a.T * a.B, GH = a.G * a.H, R = a.R;
  // the recurrent products saw m ⊙ h_{t-1}: rebuild it for ∂L/∂W_hh
  Buffer<T> hm(a.mask ? TB * R : 0);
  const T* hsrc = a.hs;
  if (a.mask) {
    for (long r = 0; r < TB; ++r)
      for (long j = 0; j < R; ++j) hm.get()[r * R + j] = a.hs[r * R + j] * a.mask[(r % a.B) * R + j];
    hsrc = hm.get();
  }
  const double flops = 2.0 * TB * (GH * (a.I + R + (a.dx ? a.I : 0)) + (a.w_hr ? R * a.H : 0));
#pragma omp parallel num_threads(threads_for_region(flops, num_threads()))
  {
    if (a.dx) gemm_rows_shared(false, false, TB, a.I, GH, T(1), dgx, GH, a.w_ih, a.I, T(0), a.dx, a.I);
    gemm_rows_shared(true, false, GH, a.I, TB, T(1), dgx, GH, a.x, a.I, T(0), a.dw_ih, a.I);
    gemm_rows_shared(true, false, GH, R, TB, T(1), dgh, GH, hsrc, R, T(0), a.dw_hh, R);
    if (a.w_hr) gemm_rows_shared(true, false, R, a.H, TB, T(1), dhs, R, a.rs, a.H, T(0), a.dw_hr, a.H);
    if (a.db_ih || a.db_hh) {  // bias gradients: column sums, each thread owning columns
      long c0, c1;
      split_range(GH, team_size(), thread_index(), c0, c1);
      if (a.db_ih) std::fill(a.db_ih + c0, a.db_ih + c1, T(0));
      if (a.db_hh) std::fill(a.db_hh + c0, a.db_hh + c1, T(0));
      for (long r = 0; r < TB; ++r) {
        const T* gxr = dgx + r * GH;
        const T* ghr = dgh + r * GH;
        for (long c = c0; c < c1; ++c) {
          if (a.db_ih) a.db_ih[c] += gxr[c];
          if (a.db_hh) a.db_hh[c] += ghr[c];
        }
      }
    }
  }
}

// Cell policy, backward (units schedule):
//   static constexpr int G;
//   T* dgx(); T* dgh();    (T·B, G·H) gradients of the input and recurrent pre-activations
//                          (the same buffer unless the cell tells them apart, as GRU does)
//   void step(long t, long b, long u0, int n, T* dh);
//        dh: the carried ∂L/∂h_t for these units; the step adds dy, computes dGx/dGh and
//        replaces dh by the part of ∂L/∂h_{t-1} that does not go through W_hh.
template <class T, class Cell>
void backward_engine(const Recurrent<T>& a, Cell& cell) {
  constexpr int G = Cell::G;
  const long GH = G * a.H, H = a.H, B = a.B;
  T* dgx = cell.dgx();
  T* dgh = cell.dgh();
  T* dh = a.dh0;  // the carry lives in the output and ends as ∂L/∂h_0
  if (a.dh_n) std::memcpy(dh, a.dh_n, B * H * sizeof(T));
  else std::fill(dh, dh + B * H, T(0));

  const int nt = num_threads();
  const long nblk = num_blocks(H);
  const int nl = threads_for_steps(2.0 * B * GH * H, H, int(std::min<long>(nt, nblk)));
  Buffer<T> through_all(a.mask ? B * H : 0);  // dG_t · W_hh before the mask
  StepBarrier barrier(nl);
  LoopMeter meter(barrier);
#pragma omp parallel num_threads(nl)
  {
#pragma omp single
    barrier.set_size(team_size());
    long k0, k1;
    split_range(nblk, team_size(), thread_index(), k0, k1);
    const long U0 = k0 * BS, U1 = std::min(k1 * BS, H), nu = U1 - U0;
    PackedRhs<T> w_units;  // W_hh[:, U0:U1], packed once for the T products below
    if (B > 1 && nu > 0) w_units.pack(false, GH, nu, a.w_hh + U0, H);
    for (long t = a.T - 1; t >= 0; --t) {
      for (long b = 0; b < B; ++b) {
        const bool live = t < seq_length(a.lengths, b, a.T);
        for (long k = k0; k < k1; ++k) {
          const long u0 = k * BS;
          const int n = int(std::min(BS, H - u0));
          if (live) {
            cell.step(t, b, u0, n, dh + b * H + u0);
          } else {
            for (int g = 0; g < G; ++g) {
              std::fill_n(dgx + (t * B + b) * GH + g * H + u0, n, T(0));
              if (dgh != dgx) std::fill_n(dgh + (t * B + b) * GH + g * H + u0, n, T(0));
            }
          }
        }
      }
      barrier.wait();  // the product below reads every unit's dG_t
      if (nu > 0) {
        const T* dg = dgh + t * B * GH;
        // without a mask the product adds into the carry; with one it goes through `through`
        T* out = a.mask ? through_all.get() + U0 : dh + U0;
        const T beta = a.mask ? T(0) : T(1);
        if (B == 1) gemv(true, GH, nu, T(1), a.w_hh + U0, H, dg, beta, out);
        else w_units.gemm(B, T(1), dg, GH, beta, out, H);
        if (a.mask)
          for (long b = 0; b < B; ++b)
            for (long u = U0; u < U1; ++u) dh[b * H + u] += a.mask[b * H + u] * through_all.get()[b * H + u];
      }
    }
  }
  meter.done();
  weight_gradients(a, dgx, dgh, static_cast<const T*>(nullptr));
}

}  // namespace lstmx
