// The nonlinearities of every cell, scalar (float, double); simd.hpp adds the vector lanes.
//
//   tanh          y = tanh(x)                              dy/dx = 1 - y²
//   relu          y = max(x, 0)                            dy/dx = [y > 0]
//   leaky_relu    y = x if x > 0 else s·x   (s = param)    dy/dx = 1 if y > 0 else s
//   elu           y = x if x > 0 else α(eˣ - 1) (α = param) dy/dx = 1 if y > 0 else y + α
//   sigmoid       y = 1 / (1 + e⁻ˣ)                        dy/dx = y(1 - y)
//   hard_sigmoid  y = clip(0.2·x + 0.5, 0, 1)              dy/dx = 0.2 if 0 < y < 1 else 0
//
// Every derivative is written from the output y, which is what forward keeps. NaN
// propagates through each of them.
#pragma once

#include <cmath>

namespace lstmx {

// sigmoid in the form that never overflows: for x >= 0 it is 1 / (1 + e^-x), for x < 0
// e^x / (1 + e^x) (NaN fails the comparison and comes out of the second branch as NaN).
template <class T>
inline T sigmoid(T x) {
  if (x >= T(0)) return T(1) / (T(1) + std::exp(-x));
  const T e = std::exp(x);
  return e / (T(1) + e);
}
template <class T> inline T tanh_(T x) { return std::tanh(x); }
template <class T> inline T relu(T x) { return x < T(0) ? T(0) : x; }  // NaN stays NaN
template <class T> inline T expm1_(T x) { return std::expm1(x); }
template <class T> inline T dsigmoid_from_y(T y) { return y * (T(1) - y); }
template <class T> inline T dtanh_from_y(T y) { return T(1) - y * y; }
template <class T> inline T drelu_from_y(T y) { return y > T(0) ? T(1) : T(0); }
// where(x > 0, a, b) and where(0 < y < 1, a, b), lane by lane (NaN: b)
template <class T> inline T where_positive(T x, T a, T b) { return x > T(0) ? a : b; }
template <class T> inline T where_unit(T y, T a, T b) { return (y > T(0) && y < T(1)) ? a : b; }
template <class T> inline T clip01(T y) { return y < T(0) ? T(0) : (y > T(1) ? T(1) : y); }

enum class Act : int { tanh = 0, relu, leaky_relu, elu, sigmoid, hard_sigmoid };

// The activations of one cell: `act` for the candidate and the cell output (RNN: its only
// one), `rec` for the gates, `param` the leaky_relu slope or elu alpha. Plain ints, so that
// Cython can fill it (the values are those of Act).
template <class T>
struct CellActs {
  int act = int(Act::tanh);
  int rec = int(Act::sigmoid);
  T param = T(0);
  bool pytorch() const { return act == int(Act::tanh) && rec == int(Act::sigmoid); }
};

// One activation as a function object over any lane type V: fixed ones for PyTorch's cells
// (nothing to decide per call), and AnyAct, which switches on its kind.
struct TanhAct {
  template <class V> V operator()(V x) const { return tanh_(x); }
  template <class V> V grad(V y) const { return dtanh_from_y(y); }
};
struct SigmoidAct {
  template <class V> V operator()(V x) const { return sigmoid(x); }
  template <class V> V grad(V y) const { return dsigmoid_from_y(y); }
};
template <class T>
struct AnyAct {
  Act kind;
  T p;
  template <class V> V operator()(V x) const {
    switch (kind) {
      case Act::tanh: return tanh_(x);
      case Act::relu: return relu(x);
      case Act::leaky_relu: return where_positive(x, x, V(p) * x);
      case Act::elu: return where_positive(x, x, V(p) * expm1_(x));
      case Act::sigmoid: return sigmoid(x);
      case Act::hard_sigmoid: return clip01(V(T(0.2)) * x + V(T(0.5)));
    }
    return x;
  }
  template <class V> V grad(V y) const {
    switch (kind) {
      case Act::tanh: return dtanh_from_y(y);
      case Act::relu: return drelu_from_y(y);
      case Act::leaky_relu: return where_positive(y, V(T(1)), V(p));
      case Act::elu: return where_positive(y, V(T(1)), y + V(p));
      case Act::sigmoid: return dsigmoid_from_y(y);
      case Act::hard_sigmoid: return where_unit(y, V(T(0.2)), V(T(0)));
    }
    return V(T(1));
  }
};

// f(act, rec) with the activation objects of `o`: the fixed pair for PyTorch's cells, so
// that their gate math compiles with no switch in it. The general case is kept out of line:
// inlined beside the fixed one it made the caller large enough that the compiler stopped
// inlining the fixed path's exp.
template <class T, class F>
#if defined(__GNUC__)
__attribute__((noinline))
#endif
void with_any_acts(const CellActs<T>& o, F& f) {
  f(AnyAct<T>{Act(o.act), o.param}, AnyAct<T>{Act(o.rec), o.param});
}
template <class T, class F>
inline void with_acts(const CellActs<T>& o, F&& f) {
  if (o.pytorch()) f(TanhAct{}, SigmoidAct{});
  else with_any_acts(o, f);
}

}  // namespace lstmx
