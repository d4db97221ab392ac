// The forward gate math of src/cells/ with sixteen float32 lanes, for CPUs with AVX-512
// (call only when avx512::enabled()). Same arguments and results as lstm_cell_forward,
// gru_cell_forward and rnn_cell_forward of the cell headers, which these run unchanged
// (without the cell-state layer norm, which the units schedule never uses). The activations
// come as CellActs' fields (act, rec, param).
#pragma once

namespace lstmx {
namespace avx512 {

void lstm_cell_forward(int n, const float* gx, long sx, const float* gh, long sh, const float* c_prev,
                       float* c_next, float* h_next, float* act, long sa, float* act_c,
                       int act_kind, int rec_kind, float param);
void gru_cell_forward(int n, const float* gx, long sx, const float* gh, long sh, const float* h_prev,
                      float* h_next, float* act, long sa, float* ghn, int act_kind, int rec_kind,
                      float param);
void rnn_cell_forward(int n, const float* gx, const float* gh, float* h_next, int act_kind,
                      float param);

}  // namespace avx512
}  // namespace lstmx
