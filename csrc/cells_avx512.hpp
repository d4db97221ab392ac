// The forward gate math of src/cells/ with sixteen float32 lanes, for CPUs with AVX-512
// (call only when avx512::enabled()). Same arguments and results as lstm_cell_forward,
// gru_cell_forward and rnn_cell_forward of the cell headers, which these run unchanged.
#pragma once

namespace lstmx {
namespace avx512 {

void lstm_cell_forward(int n, const float* gx, long sx, const float* gh, long sh, const float* c_prev,
                       float* c_next, float* h_next, float* act, long sa, float* tanh_c);
void gru_cell_forward(int n, const float* gx, long sx, const float* gh, long sh, const float* h_prev,
                      float* h_next, float* act, long sa, float* ghn);
void rnn_cell_forward(int n, const float* gx, const float* gh, float* h_next, bool use_relu);

}  // namespace avx512
}  // namespace lstmx
