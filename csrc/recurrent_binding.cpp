// The binding of the recurrent engine (sequence.hpp): lstmx._core.recurrent_forward and
// recurrent_backward, for every cell and option. Parameters travel as a dict with the
// reference's keys (w_ih, w_hh, b_ih, b_hh, w_hr, ln_ih_w, ln_ih_b, ln_hh_w, ln_hh_b, ln_c_w,
// ln_c_b); every array is checked before any work starts.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "checks.hpp"
#include "parallel.hpp"
#include "quantized_binding.hpp"
#include "sequence.hpp"

namespace py = pybind11;

namespace lstmx {
namespace {

CellKind parse_cell(const std::string& s) {
  if (s == "lstm") return CellKind::lstm;
  if (s == "gru") return CellKind::gru;
  if (s == "rnn") return CellKind::rnn;
  throw py::value_error("cell must be 'lstm', 'gru' or 'rnn', got '" + s + "'");
}

Act parse_act(const std::string& s, bool gate) {
  if (gate) {
    if (s == "sigmoid") return Act::sigmoid;
    if (s == "hard_sigmoid") return Act::hard_sigmoid;
    throw py::value_error("recurrent_activation must be 'sigmoid' or 'hard_sigmoid', got '" + s + "'");
  }
  if (s == "tanh") return Act::tanh;
  if (s == "relu") return Act::relu;
  if (s == "leaky_relu") return Act::leaky_relu;
  if (s == "elu") return Act::elu;
  if (s == "sigmoid") return Act::sigmoid;
  throw py::value_error("activation must be one of 'tanh', 'relu', 'leaky_relu', 'elu', 'sigmoid', got '" + s + "'");
}

const char* const kParamKeys[] = {"w_ih", "w_hh", "b_ih", "b_hh", "w_hr", "ln_ih_w",
                                  "ln_ih_b", "ln_hh_w", "ln_hh_b", "ln_c_w", "ln_c_b"};

struct Checked {
  CellKind kind;
  long T, B, I, H, R, G;
  bool ln, proj, bias, rows;  // rows: the rows schedule (uses_row_schedule)
  py::dtype dt;
  py::array x, lengths_keep, mask;
  const int64_t* lengths = nullptr;
  py::dict p;  // the checked parameter arrays
  const quant::Matrix *q_ih = nullptr, *q_hh = nullptr, *q_hr = nullptr;  // quantized inference
  std::vector<std::shared_ptr<const quant::Matrix>> q_keep;  // alive for the whole call
};

// Threads a call can use by the cost rule (parallel.hpp): its largest region, and in the
// units schedule also its time loop. `passes`: 1 for a forward, 2 for a backward.
int useful_threads(const Checked& c, double passes) {
  const double step = 2.0 * c.B * c.G * c.H * c.R + (c.proj ? 2.0 * c.B * c.H * c.R : 0.0);
  const double total = passes * c.T * (step + 2.0 * c.B * c.G * c.H * c.I);
  if (c.rows) return threads_for_region(total);
  return std::max(threads_for_region(total), threads_for_steps(step, c.H));
}

py::array need_array(const py::handle& o, const std::string& name, int ndim, const char* dims) {
  if (!py::isinstance<py::array>(o))
    throw py::type_error(name + " must be a numpy.ndarray, got " +
                         std::string(py::str(o.get_type().attr("__name__"))));
  py::array a = py::reinterpret_borrow<py::array>(o);
  if (a.ndim() != ndim)
    throw py::value_error(name + " must have shape " + dims + ", got " + shape_str(shape_of(a)));
  return a;
}

// The quantized weights of an inference forward: {"w_ih", "w_hh"[, "w_hr"]} packed matrices
// of one kind, which replace those keys of params.
void check_quantized(Checked& c, const py::dict& params, const py::dict& q) {
  for (auto kv : q) {
    const std::string k = py::str(kv.first);
    if (k != "w_ih" && k != "w_hh" && k != "w_hr") throw py::value_error("quantized has an unknown key '" + k + "'");
  }
  for (const char* k : {"w_ih", "w_hh", "w_hr"})
    if (params.contains(k))
      throw py::value_error(std::string("params['") + k + "'] is given with quantized weights: the weight "
                            "matrices come from quantized alone");
  if (!q.contains("w_ih") || !q.contains("w_hh")) throw py::value_error("quantized must hold 'w_ih' and 'w_hh'");
  if (!is_dtype<float>(c.dt)) throw py::type_error("quantized weights take float32 inputs; x has dtype " + std::string(py::str(c.dt)));
  // the matrices are held (not just pointed to) while the kernels run without the GIL
  auto hold = [&](const char* key) {
    c.q_keep.push_back(quantized_matrix(q[key], std::string("quantized['") + key + "']"));
    return c.q_keep.back().get();
  };
  c.q_ih = hold("w_ih");
  c.q_hh = hold("w_hh");
  c.proj = q.contains("w_hr");
  if (c.proj) c.q_hr = hold("w_hr");
  if (c.q_ih->N % c.G != 0)
    throw py::value_error("quantized['w_ih'] must have G*H rows (G = " + std::to_string(c.G) + "), got " +
                          std::to_string(c.q_ih->N));
  c.H = c.q_ih->N / c.G;
  c.R = c.proj ? c.q_hr->N : c.H;
  auto expect = [&](const quant::Matrix& m, const char* key, long N, long K, int gates, const char* dims) {
    if (m.N != N || m.K != K)
      throw py::value_error(std::string("quantized['") + key + "'] must have shape " + dims + " = (" +
                            std::to_string(N) + ", " + std::to_string(K) + "), got (" + std::to_string(m.N) +
                            ", " + std::to_string(m.K) + ")");
    if (m.gates != gates)
      throw py::value_error(std::string("quantized['") + key + "'] must be packed with gates=" + std::to_string(gates) +
                            (gates ? " (a layer without layer norm or projection)" : "") + ", got gates=" +
                            std::to_string(m.gates));
    if (m.kind != c.q_ih->kind)
      throw py::value_error(std::string("quantized['") + key + "'] is " + quantized_kind_name(m) +
                            " but quantized['w_ih'] is " + quantized_kind_name(*c.q_ih));
  };
  const bool rows = uses_row_schedule(c.ln, c.proj);
  expect(*c.q_ih, "w_ih", c.G * c.H, c.I, 0, "(G*H, I)");
  expect(*c.q_hh, "w_hh", c.G * c.H, c.R, rows ? 0 : int(c.G), "(G*H, R)");
  if (c.proj) expect(*c.q_hr, "w_hr", c.R, c.H, 0, "(P, H)");
}

Checked check_all(const std::string& cell, py::object x_o, const py::dict& params, py::object len_o,
                  py::object mask_o, bool layer_norm, py::object quant_o = py::none()) {
  Checked c;
  c.kind = parse_cell(cell);
  c.G = c.kind == CellKind::lstm ? 4 : c.kind == CellKind::gru ? 3 : 1;
  c.ln = layer_norm;
  if (c.ln && c.kind == CellKind::rnn) throw py::value_error("layer_norm is defined for LSTM and GRU, not RNN");
  for (auto kv : params) {
    const std::string k = py::str(kv.first);
    bool known = false;
    for (const char* kk : kParamKeys) known |= k == kk;
    if (!known) throw py::value_error("params has an unknown key '" + k + "'");
  }
  py::array x = need_array(x_o, "x", 3, "(T, B, I)");
  c.dt = x.dtype();
  if (!is_dtype<float>(c.dt) && !is_dtype<double>(c.dt))
    throw py::type_error("x has dtype " + std::string(py::str(c.dt)) + ", expected float32 or float64");
  c.T = x.shape(0); c.B = x.shape(1); c.I = x.shape(2);
  if (c.T < 1 || c.B < 1 || c.I < 1)
    throw py::value_error("x must have T, B, I >= 1, got shape " + shape_str(shape_of(x)));
  c.x = checked(x, "x", c.dt, {c.T, c.B, c.I}, "(T, B, I)");
  const bool quantized = !quant_o.is_none();
  if (quantized) {
    if (!py::isinstance<py::dict>(quant_o)) throw py::type_error("quantized must be a dict of QuantizedMatrix or None");
    check_quantized(c, params, py::reinterpret_borrow<py::dict>(quant_o));
  } else {
    if (!params.contains("w_ih") || !params.contains("w_hh"))
      throw py::value_error("params must hold 'w_ih' and 'w_hh'");
    py::array w_ih = need_array(params["w_ih"], "params['w_ih']", 2, "(G*H, I)");
    if (w_ih.shape(0) % c.G != 0 || w_ih.shape(0) == 0)
      throw py::value_error("params['w_ih'] must have G*H rows (G = " + std::to_string(c.G) + "), got shape " +
                            shape_str(shape_of(w_ih)));
    c.H = w_ih.shape(0) / c.G;
    c.proj = params.contains("w_hr");
    c.R = c.proj ? need_array(params["w_hr"], "params['w_hr']", 2, "(P, H)").shape(0) : c.H;
  }
  if (c.proj && c.kind != CellKind::lstm) throw py::value_error("a projection (w_hr) exists for LSTM only");
  const long GH = c.G * c.H;
  auto put = [&](const char* key, std::vector<long> shape, const char* dims) {
    c.p[key] = checked(params[key], (std::string("params['") + key + "']").c_str(), c.dt, shape, dims);
  };
  if (!quantized) {
    put("w_ih", {GH, c.I}, "(G*H, I)");
    put("w_hh", {GH, c.R}, "(G*H, R)");
    if (c.proj) put("w_hr", {c.R, c.H}, "(P, H)");
  }
  c.bias = params.contains("b_ih") || params.contains("b_hh");
  if (c.ln) {
    if (c.bias) throw py::value_error("with layer_norm the layer-norm biases replace b_ih and b_hh; drop them from params");
    for (const char* k : {"ln_ih_w", "ln_ih_b", "ln_hh_w", "ln_hh_b"}) {
      if (!params.contains(k)) throw py::value_error(std::string("layer_norm needs params['") + k + "']");
      put(k, {GH}, "(G*H,)");
    }
    if (c.kind != CellKind::lstm && (params.contains("ln_c_w") || params.contains("ln_c_b")))
      throw py::value_error("ln_c_w and ln_c_b (the cell-state layer norm) belong to LSTM only");
    if (c.kind == CellKind::lstm)
      for (const char* k : {"ln_c_w", "ln_c_b"}) {
        if (!params.contains(k)) throw py::value_error(std::string("layer_norm needs params['") + k + "']");
        put(k, {c.H}, "(H,)");
      }
  } else {
    for (const char* k : {"ln_ih_w", "ln_ih_b", "ln_hh_w", "ln_hh_b", "ln_c_w", "ln_c_b"})
      if (params.contains(k)) throw py::value_error(std::string("params['") + k + "'] given but layer_norm is off");
    if (c.bias) {
      if (!params.contains("b_ih") || !params.contains("b_hh"))
        throw py::value_error("params must hold both 'b_ih' and 'b_hh', or neither");
      put("b_ih", {GH}, "(G*H,)");
      put("b_hh", {GH}, "(G*H,)");
    }
  }
  c.rows = uses_row_schedule(c.ln, c.proj);
  c.lengths = checked_lengths(len_o, c.B, c.T, c.lengths_keep);
  if (!mask_o.is_none()) c.mask = checked(mask_o, "rec_mask", c.dt, {c.B, c.R}, "(B, R)");
  return c;
}

// py::array() is an empty array, not a null handle: "not given" is an array of size 0.
template <class S>
const S* data_or_null(const py::array& a) {
  return a.ptr() && a.size() ? static_cast<const S*>(a.data()) : nullptr;
}

template <class S>
const S* get(const py::dict& d, const char* k) {
  return d.contains(k) ? static_cast<const S*>(py::reinterpret_borrow<py::array>(d[k]).data()) : nullptr;
}

template <class S>
Recurrent<S> layer_of(const Checked& c, const std::string& act, double act_param, const std::string& rec,
                      double eps) {
  Recurrent<S> a;
  a.kind = c.kind;
  a.T = c.T; a.B = c.B; a.I = c.I; a.H = c.H; a.R = c.R; a.G = c.G;
  const Act ak = parse_act(act, false);
  if ((ak == Act::leaky_relu || ak == Act::elu) && !(act_param >= 0 && std::isfinite(act_param)))
    throw py::value_error("activation_param must be finite and >= 0 for leaky_relu and elu, got " +
                          std::to_string(act_param));
  a.acts.act = int(ak);
  a.acts.rec = int(parse_act(rec, true));
  a.acts.param = S(act_param);
  if (!(eps > 0)) throw py::value_error("eps must be > 0, got " + std::to_string(eps));
  a.eps = eps;
  a.layer_norm = c.ln;
  a.x = static_cast<const S*>(c.x.data());
  a.w_ih = get<S>(c.p, "w_ih"); a.w_hh = get<S>(c.p, "w_hh"); a.w_hr = get<S>(c.p, "w_hr");
  a.b_ih = get<S>(c.p, "b_ih"); a.b_hh = get<S>(c.p, "b_hh");
  a.ln_ih_w = get<S>(c.p, "ln_ih_w"); a.ln_ih_b = get<S>(c.p, "ln_ih_b");
  a.ln_hh_w = get<S>(c.p, "ln_hh_w"); a.ln_hh_b = get<S>(c.p, "ln_hh_b");
  a.ln_c_w = get<S>(c.p, "ln_c_w"); a.ln_c_b = get<S>(c.p, "ln_c_b");
  a.mask = data_or_null<S>(c.mask);
  a.lengths = c.lengths;
  a.q_ih = c.q_ih; a.q_hh = c.q_hh; a.q_hr = c.q_hr;
  return a;
}

// A workspace array, uninitialised: forward writes every element that backward reads (rows
// of finished sequences are written only where backward reads them, as the carried states).
template <class S>
S* fresh(py::dict& ws, const char* key, std::vector<long> shape) {
  py::array_t<S> arr(shape);
  ws[key] = arr;
  return arr.mutable_data();
}

// The workspace keys a training forward fills, and so the ones backward needs.
std::vector<const char*> workspace_keys(const Checked& c) {
  std::vector<const char*> k{"hs"};
  if (c.kind != CellKind::rnn || c.rows) k.push_back("gates");
  if (c.kind != CellKind::rnn) k.push_back("aux");
  if (c.kind == CellKind::lstm) k.push_back("cs");
  if (c.proj) k.push_back("rs");
  if (c.ln) for (const char* n : {"nx", "rstd_x", "nh", "rstd_h"}) k.push_back(n);
  if (c.ln && c.kind == CellKind::lstm) for (const char* n : {"nc", "rstd_c"}) k.push_back(n);
  return k;
}

// Where each workspace array lives in the kernel's arguments, and its shape.
template <class S>
S** workspace_slot(Recurrent<S>& a, const std::string& key, const Checked& c, std::vector<long>& shape,
                   std::string& dims) {
  const long T = c.T, B = c.B, H = c.H, GH = c.G * c.H;
  struct Slot { const char* key; S** p; std::vector<long> shape; const char* dims; };
  const Slot slots[] = {
      {"gates", &a.gates, {T, B, GH}, "(T, B, G*H)"}, {"hs", &a.hs, {T + 1, B, c.R}, "(T+1, B, R)"},
      {"aux", &a.aux, {T, B, H}, "(T, B, H)"},        {"cs", &a.cs, {T + 1, B, H}, "(T+1, B, H)"},
      {"rs", &a.rs, {T, B, H}, "(T, B, H)"},          {"nx", &a.nx, {T, B, GH}, "(T, B, G*H)"},
      {"rstd_x", &a.rstd_x, {T, B, c.G}, "(T, B, G)"}, {"nh", &a.nh, {T, B, GH}, "(T, B, G*H)"},
      {"rstd_h", &a.rstd_h, {T, B, c.G}, "(T, B, G)"}, {"nc", &a.nc, {T, B, H}, "(T, B, H)"},
      {"rstd_c", &a.rstd_c, {T, B}, "(T, B)"}};
  for (const Slot& s : slots)
    if (key == s.key) {
      shape = s.shape;
      dims = s.dims;
      return s.p;
    }
  throw std::logic_error("unknown workspace key " + key);
}

py::array opt_state(const py::object& o, const char* name, const py::dtype& dt, long B, long n,
                    const char* dims) {
  if (o.is_none()) return py::array();
  return checked(o, name, dt, {B, n}, dims);
}

template <class S>
py::tuple forward_typed(const Checked& c, py::object h0_o, py::object c0_o, const std::string& act,
                        double act_param, const std::string& rec, double eps, bool training) {
  Recurrent<S> a = layer_of<S>(c, act, act_param, rec, eps);
  const bool lstm = c.kind == CellKind::lstm;
  py::array h0 = opt_state(h0_o, "h0", c.dt, c.B, c.R, "(B, R)"), c0;
  if (lstm) c0 = opt_state(c0_o, "c0", c.dt, c.B, c.H, "(B, H)");
  py::array_t<S> y({c.T, c.B, c.R}), h_n({c.B, c.R});
  py::object c_n = py::none();
  a.h0 = data_or_null<S>(h0);
  if (lstm) {
    a.c0 = data_or_null<S>(c0);
    py::array_t<S> cn({c.B, c.H});
    a.c_n = cn.mutable_data();
    c_n = cn;
  }
  a.y = y.mutable_data(); a.h_n = h_n.mutable_data();
  py::dict ws;
  if (training)
    for (const char* key : workspace_keys(c)) {
      std::vector<long> shape;
      std::string dims;
      S** slot = workspace_slot(a, key, c, shape, dims);
      *slot = fresh<S>(ws, key, shape);
    }
  {
    py::gil_scoped_release nogil;
    CallTeam team(useful_threads(c, 1), /*loop=*/true);
    recurrent_forward(a);
  }
  return py::make_tuple(y, h_n, c_n, training ? py::object(ws) : py::object(py::none()));
}

template <class S>
py::tuple backward_typed(const Checked& c, const std::string& act, double act_param, const std::string& rec,
                         double eps, py::dict ws_in, py::object dy_o, py::object dh_n_o,
                         py::object dc_n_o, bool need_dx) {
  Recurrent<S> a = layer_of<S>(c, act, act_param, rec, eps);
  const long T = c.T, B = c.B, H = c.H;
  const bool lstm = c.kind == CellKind::lstm;
  py::list keep;
  for (const char* key : workspace_keys(c)) {
    if (!ws_in.contains(key))
      throw py::value_error(std::string("workspace is missing '") + key +
                            "': pass the workspace returned by the training forward of the same layer");
    std::vector<long> shape;
    std::string dims;
    S** slot = workspace_slot(a, key, c, shape, dims);
    py::array arr = checked(ws_in[key], (std::string("workspace['") + key + "']").c_str(), c.dt, shape,
                            dims.c_str());
    keep.append(arr);
    *slot = static_cast<S*>(arr.mutable_data());
  }
  py::array dy, dh_n, dc_n;
  if (!dy_o.is_none()) dy = checked(dy_o, "dy", c.dt, {T, B, c.R}, "(T, B, R)");
  dh_n = opt_state(dh_n_o, "dh_n", c.dt, B, c.R, "(B, R)");
  if (lstm) dc_n = opt_state(dc_n_o, "dc_n", c.dt, B, H, "(B, H)");
  a.dy = data_or_null<S>(dy);
  a.dh_n = data_or_null<S>(dh_n);
  a.dc_n = data_or_null<S>(dc_n);

  py::array_t<S> dh0({B, c.R});
  a.dh0 = dh0.mutable_data();
  py::object dc0_out = py::none(), dx_out = py::none();
  if (lstm) {
    py::array_t<S> dc0({B, H});
    a.dc0 = dc0.mutable_data();
    dc0_out = dc0;
  }
  if (need_dx) {
    py::array_t<S> dx({T, B, c.I});
    a.dx = dx.mutable_data();
    dx_out = dx;
  }
  py::dict grads;
  auto grad = [&](const char* key) -> S* {
    if (!c.p.contains(key)) return nullptr;
    py::array src = py::reinterpret_borrow<py::array>(c.p[key]);
    py::array_t<S> g(shape_of(src));
    grads[key] = g;
    return g.mutable_data();
  };
  a.dw_ih = grad("w_ih"); a.dw_hh = grad("w_hh"); a.dw_hr = grad("w_hr");
  a.db_ih = grad("b_ih"); a.db_hh = grad("b_hh");
  a.dln_ih_w = grad("ln_ih_w"); a.dln_ih_b = grad("ln_ih_b");
  a.dln_hh_w = grad("ln_hh_w"); a.dln_hh_b = grad("ln_hh_b");
  a.dln_c_w = grad("ln_c_w"); a.dln_c_b = grad("ln_c_b");
  {
    py::gil_scoped_release nogil;
    CallTeam team(useful_threads(c, 2), /*loop=*/true);
    recurrent_backward(a);
  }
  return py::make_tuple(dx_out, dh0, dc0_out, grads);
}

}  // namespace

void bind_recurrent(py::module_& m) {
  m.def("recurrent_forward",
        [](const std::string& cell, py::object x, py::object h0, py::object c0, py::dict params,
           py::object lengths, py::object rec_mask, const std::string& activation,
           double activation_param, const std::string& recurrent_activation, bool layer_norm,
           double eps, bool training, py::object quantized) {
          Checked c = check_all(cell, x, params, lengths, rec_mask, layer_norm, quantized);
          if (c.q_ih && training)
            throw py::value_error("quantized weights are for inference: call with training=False "
                                  "(backward needs the float32 layer)");
          if (c.q_ih && c.mask.ptr() && c.mask.size())
            throw py::value_error("recurrent dropout (rec_mask) is for training; quantized weights are for inference");
          if (is_dtype<float>(c.dt))
            return forward_typed<float>(c, h0, c0, activation, activation_param, recurrent_activation, eps, training);
          return forward_typed<double>(c, h0, c0, activation, activation_param, recurrent_activation, eps, training);
        },
        py::arg("cell"), py::arg("x"), py::arg("h0"), py::arg("c0"), py::arg("params"),
        py::arg("lengths") = py::none(), py::arg("rec_mask") = py::none(),
        py::arg("activation") = "tanh", py::arg("activation_param") = 0.0,
        py::arg("recurrent_activation") = "sigmoid", py::arg("layer_norm") = false,
        py::arg("eps") = 1e-5, py::arg("training") = true, py::arg("quantized") = py::none(),
        "One layer and direction forward, any cell and options. Returns (y, h_n, c_n or None, "
        "workspace or None). quantized: {'w_ih', 'w_hh'[, 'w_hr']: QuantizedMatrix} replacing "
        "those params (inference, float32; W_hh packed with gates=G unless layer norm or a projection).");
  m.def("recurrent_backward",
        [](const std::string& cell, py::object x, py::dict params, py::object lengths,
           py::object rec_mask, const std::string& activation, double activation_param,
           const std::string& recurrent_activation, bool layer_norm, double eps, py::dict workspace,
           py::object dy, py::object dh_n, py::object dc_n, bool need_dx) {
          Checked c = check_all(cell, x, params, lengths, rec_mask, layer_norm);
          if (is_dtype<float>(c.dt))
            return backward_typed<float>(c, activation, activation_param, recurrent_activation, eps,
                                         workspace, dy, dh_n, dc_n, need_dx);
          return backward_typed<double>(c, activation, activation_param, recurrent_activation, eps,
                                        workspace, dy, dh_n, dc_n, need_dx);
        },
        py::arg("cell"), py::arg("x"), py::arg("params"), py::arg("lengths"), py::arg("rec_mask"),
        py::arg("activation"), py::arg("activation_param"), py::arg("recurrent_activation"),
        py::arg("layer_norm"), py::arg("eps"), py::arg("workspace"), py::arg("dy"),
        py::arg("dh_n"), py::arg("dc_n") = py::none(), py::arg("need_dx") = true,
        "One layer and direction backward. Returns (dx or None, dh0, dc0 or None, grads) with grads a dict "
        "keyed like params.");
}

}  // namespace lstmx
