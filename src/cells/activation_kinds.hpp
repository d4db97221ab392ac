// The selectable nonlinearities of the extended cells (Keras names), scalar, float and double.
//
//   tanh          y = tanh(x)                              dy/dx = 1 - y²
//   relu          y = max(x, 0)                            dy/dx = [y > 0]
//   leaky_relu    y = x if x > 0 else s·x   (s = param)    dy/dx = 1 if y > 0 else s
//   elu           y = x if x > 0 else α(eˣ - 1) (α = param) dy/dx = 1 if y > 0 else y + α
//   sigmoid       y = 1 / (1 + e⁻ˣ)                        dy/dx = y(1 - y)
//   hard_sigmoid  y = clip(0.2·x + 0.5, 0, 1)              dy/dx = 0.2 if 0 < y < 1 else 0
//
// Every derivative is written from the output y, which is what forward keeps.
#pragma once

#include <cmath>

#include "activations.hpp"

namespace lstmx {

enum class Act : int { tanh = 0, relu, leaky_relu, elu, sigmoid, hard_sigmoid };

template <class T>
inline T act_apply(Act k, T x, T p) {
  switch (k) {
    case Act::tanh: return std::tanh(x);
    case Act::relu: return relu(x);
    case Act::leaky_relu: return x > T(0) ? x : p * x;
    case Act::elu: return x > T(0) ? x : p * std::expm1(x);
    case Act::sigmoid: return sigmoid(x);
    case Act::hard_sigmoid: {
      const T y = T(0.2) * x + T(0.5);
      return y < T(0) ? T(0) : (y > T(1) ? T(1) : y);
    }
  }
  return x;
}

template <class T>
inline T act_grad_from_y(Act k, T y, T p) {
  switch (k) {
    case Act::tanh: return T(1) - y * y;
    case Act::relu: return y > T(0) ? T(1) : T(0);
    case Act::leaky_relu: return y > T(0) ? T(1) : p;
    case Act::elu: return y > T(0) ? T(1) : y + p;
    case Act::sigmoid: return y * (T(1) - y);
    case Act::hard_sigmoid: return (y > T(0) && y < T(1)) ? T(0.2) : T(0);
  }
  return T(1);
}

}  // namespace lstmx
