// Pointwise math of one time step of the extended cells, for one batch row of H units:
// selectable activations (activation_kinds.hpp) and layer normalisation of the LSTM cell
// state. The full equations are in python/lstmx/reference/ (the NumPy twin); in short,
// with ax, ah the (already biased or layer-normalised) input and recurrent pre-activations:
//
//   LSTM  i,f,o = rec(ax + ah), g = act(ax_g + ah_g), c = f⊙c' + i⊙g,
//         ĉ = LN(c) (or c), r = o ⊙ act(ĉ)
//   GRU   r,z = rec(ax + ah), n = act(ax_n + r ⊙ ah_n), h = (1 - z)⊙n + z⊙h'
//   RNN   h = act(ax + ah)
//
// rec is the gates' activation (sigmoid or hard_sigmoid), act the candidate's.
#pragma once

#include <cstring>

#include "activation_kinds.hpp"
#include "layer_norm.hpp"

namespace lstmx {

template <class T>
struct ExtOptions {
  Act act = Act::tanh;    // candidate and cell-output nonlinearity
  Act rec = Act::sigmoid;  // gate nonlinearity
  T param = T(0);          // leaky_relu slope or elu alpha
  double eps = 1e-5;       // layer-norm epsilon
};

// LSTM forward. g (4H): ax in, activated gates i, f, g, o out. ah (4H). cp, c (H): previous
// and new cell state. With ln_w/ln_b, ĉ = LN(c) and (norm_c, *rstd_c) receive its normalised
// values and 1/std (either may be null). ac (H, may be null) receives act(ĉ); r (H) = o⊙act(ĉ).
template <class T>
inline void ext_lstm_forward(long H, const ExtOptions<T>& o, T* g, const T* ah, const T* cp, T* c,
                             const T* ln_w, const T* ln_b, T* norm_c, T* rstd_c, T* ac, T* r) {
  for (long u = 0; u < H; ++u) {
    const T i = act_apply(o.rec, g[u] + ah[u], o.param);
    const T f = act_apply(o.rec, g[H + u] + ah[H + u], o.param);
    const T gg = act_apply(o.act, g[2 * H + u] + ah[2 * H + u], o.param);
    const T og = act_apply(o.rec, g[3 * H + u] + ah[3 * H + u], o.param);
    g[u] = i; g[H + u] = f; g[2 * H + u] = gg; g[3 * H + u] = og;
    c[u] = f * cp[u] + i * gg;
    r[u] = c[u];
  }
  if (ln_w) {
    const T rs = layer_norm_forward(H, r, ln_w, ln_b, o.eps, norm_c);
    if (rstd_c) *rstd_c = rs;
  }
  for (long u = 0; u < H; ++u) {
    const T y = act_apply(o.act, r[u], o.param);
    if (ac) ac[u] = y;
    r[u] = g[3 * H + u] * y;
  }
}

// LSTM backward. dr (H): ∂L/∂r in (overwritten). dc (H): the carried ∂L/∂c_t in, ∂L/∂c_{t-1}
// out. gates (4H) and ac (H) from forward, cp (H) the previous cell state. With ln_w: the
// normalised ĉ and its rstd, and the sums ∂L/∂γ_c, ∂L/∂β_c accumulate into dln_w, dln_b.
// da (4H) receives ∂L/∂(pre-activation) of i, f, g, o.
template <class T>
inline void ext_lstm_backward(long H, const ExtOptions<T>& o, T* dr, T* dc, const T* gates,
                              const T* ac, const T* cp, const T* ln_w, const T* norm_c, T rstd_c,
                              T* dln_w, T* dln_b, T* da) {
  for (long u = 0; u < H; ++u) {
    const T og = gates[3 * H + u];
    da[3 * H + u] = dr[u] * ac[u] * act_grad_from_y(o.rec, og, o.param);
    dr[u] = dr[u] * og * act_grad_from_y(o.act, ac[u], o.param);  // now ∂L/∂ĉ
  }
  if (ln_w) {
    for (long u = 0; u < H; ++u) {
      dln_w[u] += dr[u] * norm_c[u];
      dln_b[u] += dr[u];
    }
    layer_norm_backward(H, dr, norm_c, rstd_c, ln_w);  // now the part of ∂L/∂c_t through h_t
  }
  for (long u = 0; u < H; ++u) {
    const T i = gates[u], f = gates[H + u], gg = gates[2 * H + u];
    const T d = dc[u] + dr[u];
    da[u] = d * gg * act_grad_from_y(o.rec, i, o.param);
    da[H + u] = d * cp[u] * act_grad_from_y(o.rec, f, o.param);
    da[2 * H + u] = d * i * act_grad_from_y(o.act, gg, o.param);
    dc[u] = d * f;
  }
}

// GRU forward. g (3H): ax in, activated r, z, n out. ah (3H). hp (H): previous state.
// h (H): new state. ahn (H, may be null) keeps ah_n, which backward needs.
template <class T>
inline void ext_gru_forward(long H, const ExtOptions<T>& o, T* g, const T* ah, const T* hp, T* h,
                            T* ahn) {
  for (long u = 0; u < H; ++u) {
    const T r = act_apply(o.rec, g[u] + ah[u], o.param);
    const T z = act_apply(o.rec, g[H + u] + ah[H + u], o.param);
    const T n = act_apply(o.act, g[2 * H + u] + r * ah[2 * H + u], o.param);
    g[u] = r; g[H + u] = z; g[2 * H + u] = n;
    if (ahn) ahn[u] = ah[2 * H + u];
    h[u] = (T(1) - z) * n + z * hp[u];
  }
}

// GRU backward. dh (H): ∂L/∂h_t. dax, dah (3H): ∂L/∂ax, ∂L/∂ah. direct (H): the part of
// ∂L/∂h_{t-1} that does not pass through W_hh (z ⊙ dh).
template <class T>
inline void ext_gru_backward(long H, const ExtOptions<T>& o, const T* dh, const T* gates,
                             const T* ahn, const T* hp, T* dax, T* dah, T* direct) {
  for (long u = 0; u < H; ++u) {
    const T r = gates[u], z = gates[H + u], n = gates[2 * H + u];
    const T dan = dh[u] * (T(1) - z) * act_grad_from_y(o.act, n, o.param);
    const T dar = dan * ahn[u] * act_grad_from_y(o.rec, r, o.param);
    const T daz = dh[u] * (hp[u] - n) * act_grad_from_y(o.rec, z, o.param);
    direct[u] = dh[u] * z;
    dax[u] = dar; dax[H + u] = daz; dax[2 * H + u] = dan;
    dah[u] = dar; dah[H + u] = daz; dah[2 * H + u] = dan * r;
  }
}

// RNN forward: h = act(ax + ah); g (H) receives h too (backward reads the activation there).
template <class T>
inline void ext_rnn_forward(long H, const ExtOptions<T>& o, T* g, const T* ah, T* h) {
  for (long u = 0; u < H; ++u) h[u] = g[u] = act_apply(o.act, g[u] + ah[u], o.param);
}

template <class T>
inline void ext_rnn_backward(long H, const ExtOptions<T>& o, const T* dh, const T* hact, T* da) {
  for (long u = 0; u < H; ++u) da[u] = dh[u] * act_grad_from_y(o.act, hact[u], o.param);
}

}  // namespace lstmx
