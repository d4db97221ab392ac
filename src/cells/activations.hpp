// Scalar nonlinearities shared by every cell, for float and double.
//
// sigmoid is written in the form that never overflows: for x >= 0 it is 1 / (1 + e^-x),
// for x < 0 it is e^x / (1 + e^x). NaN propagates (every comparison with NaN is false,
// so NaN goes down the second branch and comes out as NaN).
#pragma once

#include <cmath>

namespace lstmx {

template <class T>
inline T sigmoid(T x) {
  if (x >= T(0)) return T(1) / (T(1) + std::exp(-x));
  const T e = std::exp(x);
  return e / (T(1) + e);
}

template <class T>
inline T tanh_(T x) {
  return std::tanh(x);
}

template <class T>
inline T relu(T x) {
  // x > 0 ? x : 0, written so that NaN stays NaN
  return x < T(0) ? T(0) : x;
}

// Derivatives written from the activation's output y.
template <class T>
inline T dsigmoid_from_y(T y) { return y * (T(1) - y); }

template <class T>
inline T dtanh_from_y(T y) { return T(1) - y * y; }

template <class T>
inline T drelu_from_y(T y) { return y > T(0) ? T(1) : T(0); }

}  // namespace lstmx
