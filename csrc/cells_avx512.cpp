// cells_avx512.hpp: the cell headers compiled with AVX-512 enabled (this file alone gets
// -mavx512f, see CMakeLists.txt), so their for_lanes runs F16 lanes (simd.hpp).
//
// The headers are included inside an anonymous namespace: every inline function and template
// instance compiled here then has internal linkage, and the linker can never merge one of
// them with (and so replace) the baseline copy the other files use on CPUs without AVX-512.
// The system headers they need are included first, outside it. The activation choice
// crosses over as plain values (the two copies of CellActs are distinct types).
#include <cmath>
#include <type_traits>
#include <utility>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "cells_avx512.hpp"

namespace {
#include "cells/gru_cell.hpp"
#include "cells/lstm_cell.hpp"
#include "cells/rnn_cell.hpp"

// (`lstmx` here is the copy inside this anonymous namespace)
lstmx::CellActs<float> acts16(int act, int rec, float param) {
  lstmx::CellActs<float> o;
  o.act = act;
  o.rec = rec;
  o.param = param;
  return o;
}
void lstm16(int n, const float* gx, long sx, const float* gh, long sh, const float* c_prev, float* c_next,
            float* h_next, float* act, long sa, float* act_c, int ak, int rk, float p) {
  lstmx::lstm_cell_forward(n, gx, sx, gh, sh, c_prev, c_next, h_next, act, sa, act_c, acts16(ak, rk, p));
}
void gru16(int n, const float* gx, long sx, const float* gh, long sh, const float* h_prev, float* h_next,
           float* act, long sa, float* ghn, int ak, int rk, float p) {
  lstmx::gru_cell_forward(n, gx, sx, gh, sh, h_prev, h_next, act, sa, ghn, acts16(ak, rk, p));
}
void rnn16(int n, const float* gx, const float* gh, float* h_next, int ak, float p) {
  lstmx::rnn_cell_forward(n, gx, gh, h_next, acts16(ak, int(lstmx::Act::sigmoid), p));
}
}  // namespace

namespace lstmx {
namespace avx512 {

void lstm_cell_forward(int n, const float* gx, long sx, const float* gh, long sh, const float* c_prev,
                       float* c_next, float* h_next, float* act, long sa, float* act_c,
                       int act_kind, int rec_kind, float param) {
  lstm16(n, gx, sx, gh, sh, c_prev, c_next, h_next, act, sa, act_c, act_kind, rec_kind, param);
}
void gru_cell_forward(int n, const float* gx, long sx, const float* gh, long sh, const float* h_prev,
                      float* h_next, float* act, long sa, float* ghn, int act_kind, int rec_kind,
                      float param) {
  gru16(n, gx, sx, gh, sh, h_prev, h_next, act, sa, ghn, act_kind, rec_kind, param);
}
void rnn_cell_forward(int n, const float* gx, const float* gh, float* h_next, int act_kind, float param) {
  rnn16(n, gx, gh, h_next, act_kind, param);
}

}  // namespace avx512
}  // namespace lstmx
