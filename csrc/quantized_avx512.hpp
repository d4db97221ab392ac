// The AVX-512 products of quantized.hpp: int8 on AVX-512 VNNI (and the AMX tiles, where
// present), bfloat16 on AVX-512 BF16.
// Chosen at run time (quantized.cpp); same arguments and same bits as the portable loops.
#pragma once

#include "quantized.hpp"

namespace lstmx {
namespace quant {
namespace avx512 {

bool vnni_available();  // the CPU (and OS) run AVX-512 F/BW/VNNI, and this build has the kernels
bool bf16_available();  // ... AVX-512 F/BW/BF16
bool amx_available();   // ... AMX-TILE/INT8 (and VNNI), with the OS's permission for the tiles

// One row of Rows::fill: v (K) to Kp bytes q + 128 and its scale; or to Kp bfloat16.
void fill_int8(const float* v, long K, long Kp, uint8_t* out, float* scale);
void fill_bf16(const float* v, long K, long Kp, uint16_t* out);
// use_amx: rows in whole blocks of 16 on the AMX tiles, where the CPU has them
void int8_product(const Matrix& w, const Rows& x, long m0, long m1, long p0, long p1, float* y, long ldy,
                  long ncols, const float* bias, bool accumulate, bool use_amx);
void bf16_product(const Matrix& w, const Rows& x, long m0, long m1, long p0, long p1, float* y, long ldy,
                  long ncols, const float* bias, bool accumulate);

}  // namespace avx512
}  // namespace quant
}  // namespace lstmx
