// Packing, activation quantization, the portable products and the choice of path
// (quantized.hpp). The AVX-512 products are in quantized_avx512.cpp.
#include "quantized.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>

#include "parallel.hpp"
#include "quantized_avx512.hpp"

namespace lstmx {
namespace quant {
namespace {

// The packed columns' weight rows: plain order, or units order for G gate blocks.
std::vector<long> column_rows(long N, int gates, long& panels) {
  std::vector<long> rows;
  if (gates <= 0) {
    panels = (N + kPanel - 1) / kPanel;
    rows.assign(panels * kPanel, -1);
    for (long n = 0; n < N; ++n) rows[n] = n;
    return rows;
  }
  const long H = N / gates, nblk = (H + kPanel - 1) / kPanel;
  panels = nblk * gates;
  rows.assign(panels * kPanel, -1);
  for (long k = 0; k < nblk; ++k)
    for (int g = 0; g < gates; ++g)
      for (long l = 0; l < kPanel; ++l)
        if (k * kPanel + l < H) rows[(k * gates + g) * kPanel + l] = g * H + k * kPanel + l;
  return rows;
}

void layout(Matrix& m, Kind kind, long N, long K, int gates) {
  if (gates > 0 && N % gates != 0) throw std::invalid_argument("N must be a multiple of gates");
  m.kind = kind;
  m.N = N;
  m.K = K;
  // int8: whole 64-input steps of the AMX tiles; bfloat16: whole pairs
  const long step = kind == Kind::int8 ? 64 : group_size(kind);
  m.Kp = (K + step - 1) / step * step;
  m.gates = gates;
  m.row = column_rows(N, gates, m.panels);
  m.data.resize(m.bytes());
  m.data.zero(m.bytes());
}

// Byte offset of (packed column c, input k) in the panels, for elements of `size` bytes.
long offset(const Matrix& m, long c, long k, long size) {
  const long gs = group_size(m.kind);
  return (c / kPanel) * m.panel_bytes() + ((k / gs) * kPanel * gs + (c % kPanel) * gs + k % gs) * size;
}

// -- the portable products: the packed layout read element by element ---------------------

float bf16_value(uint16_t b) {
  const uint32_t u = uint32_t(b) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// vdpbf16ps flushes subnormal results to zero (keeping the sign)
float flush(float v) { return std::fabs(v) < 1.17549435e-38f ? std::copysign(0.0f, v) : v; }

void portable_int8(const Matrix& w, const Rows& x, long m0, long m1, long p0, long p1, float* y, long ldy,
                   long ncols, const float* bias, bool accumulate) {
  for (long m = m0; m < m1; ++m) {
    const uint8_t* xr = x.q.get() + m * x.ld;
    for (long p = p0; p < p1; ++p) {
      const int8_t* panel = reinterpret_cast<const int8_t*>(w.panel(p));
      for (long l = 0; l < kPanel && p * kPanel + l < ncols; ++l) {
        const long c = p * kPanel + l;
        int32_t acc = 0;
        for (long k = 0; k < w.Kp; ++k) acc += int32_t(xr[k]) * panel[(k / 4) * 64 + l * 4 + k % 4];
        acc -= w.comp[c];
        const float s = x.scale.get()[m] * w.scale[c];
        const float v = bias ? std::fma(float(acc), s, bias[c]) : float(acc) * s;
        y[m * ldy + c] = accumulate ? y[m * ldy + c] + v : v;
      }
    }
  }
}

void portable_bf16(const Matrix& w, const Rows& x, long m0, long m1, long p0, long p1, float* y, long ldy,
                   long ncols, const float* bias, bool accumulate) {
  for (long m = m0; m < m1; ++m) {
    const uint16_t* xr = reinterpret_cast<const uint16_t*>(x.q.get() + m * x.ld);
    for (long p = p0; p < p1; ++p) {
      const uint16_t* panel = reinterpret_cast<const uint16_t*>(w.panel(p));
      for (long l = 0; l < kPanel && p * kPanel + l < ncols; ++l) {
        const long c = p * kPanel + l;
        float acc = 0.0f;
        for (long k = 0; k < w.Kp; k += 2)
          for (long j : {k + 1, k})  // the odd input of a pair first, as vdpbf16ps: one rounding each
            acc = flush(std::fma(bf16_value(xr[j]), bf16_value(panel[(k / 2) * 32 + l * 2 + j % 2]), acc));
        const float v = acc + (bias ? bias[c] : 0.0f);
        y[m * ldy + c] = accumulate ? y[m * ldy + c] + v : v;
      }
    }
  }
}

// -- the path ---------------------------------------------------------------------------

// 0 auto (the CPU's best), 1 avx512 (no AMX), 2 portable; first read from LSTMX_QUANTIZED
// (a function-local static: initialised once, whichever thread asks first)
const char* const kChoices[] = {"auto", "avx512", "portable"};

std::atomic<int>& choice() {
  static std::atomic<int> c([] {
    if (const char* e = std::getenv("LSTMX_QUANTIZED"))
      for (int i = 0; i < 3; ++i)
        if (std::strcmp(e, kChoices[i]) == 0) return i;
    return 0;
  }());
  return c;
}

int current() { return choice().load(std::memory_order_relaxed); }

bool fast(Kind k) {
  if (current() == 2) return false;
  return k == Kind::int8 ? avx512::vnni_available() : avx512::bf16_available();
}

bool amx(Kind k) { return k == Kind::int8 && current() == 0 && fast(k) && avx512::amx_available(); }

}  // namespace

void pack_int8(Matrix& m, const int8_t* w, const float* scale, long N, long K, int gates) {
  layout(m, Kind::int8, N, K, gates);
  m.scale.assign(m.panels * kPanel, 0.0f);
  m.comp.assign(m.panels * kPanel, 0);
  for (long c = 0; c < m.panels * kPanel; ++c) {
    const long n = m.row[c];
    if (n < 0) continue;
    int32_t sum = 0;
    for (long k = 0; k < K; ++k) {
      m.data.get()[offset(m, c, k, 1)] = uint8_t(w[n * K + k]);
      sum += w[n * K + k];
    }
    m.scale[c] = scale[n];
    m.comp[c] = 128 * sum;
  }
}

void pack_bf16(Matrix& m, const uint16_t* w, long N, long K, int gates) {
  layout(m, Kind::bf16, N, K, gates);
  for (long c = 0; c < m.panels * kPanel; ++c) {
    const long n = m.row[c];
    if (n < 0) continue;
    for (long k = 0; k < K; ++k) {
      uint16_t b = w[n * K + k];
      if ((b & 0x7f80u) == 0) b &= 0x8000u;  // a subnormal is zero to vdpbf16ps: to every path
      std::memcpy(m.data.get() + offset(m, c, k, 2), &b, 2);
    }
  }
}

void Rows::reserve(const Matrix& w, long rows) {
  kind = w.kind;
  K = w.K;
  Kp = w.Kp;
  ld = (Kp * (kind == Kind::int8 ? 1 : 2) + 63) / 64 * 64;
  if (rows > M || rows * ld > bytes || q.get() == nullptr) {
    M = std::max(rows, M);
    bytes = std::max(M, 1L) * ld;
    q.resize(bytes);
    scale.resize(std::max(M, 1L));
  }
}

void Rows::fill(const float* x, long ldx, long m0, long m1) {
  for (long m = m0; m < m1; ++m) {
    const float* v = x + (m - m0) * ldx;  // x points at row m0
    uint8_t* out = q.get() + m * ld;
    if (fast(kind)) {
      if (kind == Kind::int8) avx512::fill_int8(v, K, Kp, out, scale.get() + m);
      else avx512::fill_bf16(v, K, Kp, reinterpret_cast<uint16_t*>(out));
      continue;
    }
    if (kind == Kind::bf16) {
      uint16_t* o = reinterpret_cast<uint16_t*>(out);
      for (long k = 0; k < K; ++k) {
        uint32_t u;
        std::memcpy(&u, &v[k], 4);
        if ((u & 0x7f800000u) == 0) o[k] = uint16_t((u & 0x80000000u) >> 16);  // zero, subnormal
        else if ((u & 0x7fffffffu) > 0x7f800000u) o[k] = uint16_t((u >> 16) | 0x40u);  // NaN
        else o[k] = uint16_t((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
      }
      for (long k = K; k < Kp; ++k) o[k] = 0;
      continue;
    }
    float amax = 0.0f;
    bool finite = true;
    for (long k = 0; k < K; ++k) {
      const float a = std::fabs(v[k]);
      finite &= a <= std::numeric_limits<float>::max();
      amax = std::max(amax, a);
    }
    if (!finite) {  // a NaN scale: the row's products are NaN, as in float32
      scale.get()[m] = std::numeric_limits<float>::quiet_NaN();
      std::memset(out, 128, size_t(Kp));
      continue;
    }
    const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
    if (!(inv <= std::numeric_limits<float>::max())) {  // amax < 127 / FLT_MAX: a zero row
      scale.get()[m] = 0.0f;
      std::memset(out, 128, size_t(Kp));
      continue;
    }
    scale.get()[m] = amax / 127.0f;
    for (long k = 0; k < K; ++k) {
      const float r = std::nearbyint(v[k] * inv);  // round half to even
      out[k] = uint8_t(int(std::min(127.0f, std::max(-127.0f, r))) + 128);
    }
    for (long k = K; k < Kp; ++k) out[k] = 128;
  }
}

void product(const Matrix& w, const Rows& x, long m0, long m1, long p0, long p1, float* y, long ldy,
             long ncols, const float* bias, bool accumulate) {
  if (m1 <= m0 || p1 <= p0) return;
  if (fast(w.kind)) {
    if (w.kind == Kind::int8) avx512::int8_product(w, x, m0, m1, p0, p1, y, ldy, ncols, bias, accumulate, amx(w.kind));
    else avx512::bf16_product(w, x, m0, m1, p0, p1, y, ldy, ncols, bias, accumulate);
    return;
  }
  if (w.kind == Kind::int8) portable_int8(w, x, m0, m1, p0, p1, y, ldy, ncols, bias, accumulate);
  else portable_bf16(w, x, m0, m1, p0, p1, y, ldy, ncols, bias, accumulate);
}

void team_product(const Matrix& w, const float* x, long M, float* y, const float* bias, int threads) {
  Rows rows;
  rows.reserve(w, M);
#pragma omp parallel num_threads(threads_for_region(2.0 * M * w.N * w.K, threads))
  {
    long r0, r1, p0, p1;
    split_range(M, team_size(), thread_index(), r0, r1);
    rows.fill(x + r0 * w.K, w.K, r0, r1);
#pragma omp barrier
    split_range(w.panels, team_size(), thread_index(), p0, p1);
    product(w, rows, 0, M, p0, p1, y, w.N, w.N, bias, false);
  }
}

const char* path_name(Kind k) {
  if (!fast(k)) return "portable";
  if (amx(k)) return "amx-int8";
  return k == Kind::int8 ? "avx512-vnni" : "avx512-bf16";
}

const char* set_path(const char* name) {
  const char* before = kChoices[current()];
  for (int i = 0; i < 3; ++i)
    if (std::strcmp(name, kChoices[i]) == 0) {
      choice().store(i);
      return before;
    }
  throw std::invalid_argument(std::string("quantized path must be 'auto', 'avx512' or 'portable', got '") + name + "'");
}

}  // namespace quant
}  // namespace lstmx
