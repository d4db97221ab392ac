"""Tests of the NumPy reference (``lstmx.reference``): LSTM, GRU and RNN with every option,
whole sequences and single steps.

* Every gradient (dx, dh0, dc0 and each parameter) against central finite differences, in
  float64, of a random scalar loss L = sum(y * w_y) + sum(h_n * w_h) (+ sum(c_n * w_c)), over
  cell × options (layer norm, projection, recurrent mask, missing biases, every activation
  with default and other parameters, both recurrent activations) × shapes × lengths, and for
  the single-step cells.
  Kinks: relu, leaky_relu and elu bend at 0, hard_sigmoid at +-2.5. Each case is redrawn
  (new seed) until every pre-activation that reaches such a function, at every step that
  runs, is at least KINK_MARGIN away from the kink, so the finite-difference steps never
  straddle one; the forward keeps those pre-activations in each step cache ("pre_act",
  "pre_rec"). Layer norm of a block whose values nearly agree is steeply curved (rstd
  large), which spoils central differences; draws with rstd > MAX_RSTD at a running step
  are redrawn as well (a block of exact zeros, from a fully masked h, has n = 0 and does
  not count).
* The forward against a second, independent transcription of the equations written here
  (per gate, with np.var for layer norm), for PyTorch's cells and with options.
* With torch: parity with nn.LSTM (also with proj_size), nn.GRU and nn.RNN (tanh, relu),
  without and with packed lengths; layer norm against torch.nn.functional.layer_norm.
* Semantics, for PyTorch's cells and with every option on: lengths, single steps chained =
  the sequence, None = zeros, dtypes, inputs left alone; missing biases = zero biases, an
  all-ones mask = no mask, the GRU's update gate meets the unmasked state; bad options and
  inputs; the activations and layer norm on their own.

Everything is tiny (T <= 4, B <= 3, H <= 4) so the file runs in seconds.
"""

import itertools
import zlib

import numpy as np
import pytest

from conftest import assert_close, finite_difference
from lstmx.reference import (
    elu,
    elu_grad_from_output,
    gru_backward,
    gru_cell_backward,
    gru_cell_forward,
    gru_forward,
    hard_sigmoid,
    hard_sigmoid_grad_from_output,
    layer_norm_backward,
    layer_norm_blocks_backward,
    layer_norm_blocks_forward,
    layer_norm_forward,
    leaky_relu,
    leaky_relu_grad_from_output,
    lstm_backward,
    lstm_cell_backward,
    lstm_cell_forward,
    lstm_forward,
    relu,
    relu_grad_from_output,
    rnn_backward,
    rnn_cell_backward,
    rnn_cell_forward,
    rnn_forward,
    sigmoid,
    sigmoid_grad_from_output,
    tanh,
    tanh_grad_from_output,
)

CELLS = ["lstm", "gru", "rnn"]
GATES = {"lstm": 4, "gru": 3, "rnn": 1}
STATES = {"lstm": ["h0", "c0"], "gru": ["h0"], "rnn": ["h0"]}
FORWARD = {"lstm": lstm_forward, "gru": gru_forward, "rnn": rnn_forward}
BACKWARD = {"lstm": lstm_backward, "gru": gru_backward, "rnn": rnn_backward}
STEP_FORWARD = {"lstm": lstm_cell_forward, "gru": gru_cell_forward, "rnn": rnn_cell_forward}
STEP_BACKWARD = {"lstm": lstm_cell_backward, "gru": gru_cell_backward, "rnn": rnn_cell_backward}
OUTPUTS = ["y", "h_n", "c_n"]

SHAPES = {"small": (3, 3, 2, 3, 2), "wide": (4, 3, 3, 4, 2), "single": (1, 1, 2, 3, 2)}
LENGTHS = ["none", "all_T", "all_1", "mixed"]   # mixed: one full-length, one length-1 sequence

EPS = 1e-6            # finite-difference step
RTOL = 1e-6           # allowed relative error ...
GRAD_FLOOR = 1e-2     # ... measured as |a - n| / max(|a|, |n|, GRAD_FLOOR)
KINK_MARGIN = 1e-3    # pre-activations stay this far from any kink
MAX_RSTD = 30.0       # layer norms stay this far from flat blocks

# (activation, activation_param): every activation, defaults and other parameters
ACTIVATIONS = [("tanh", None), ("relu", None), ("leaky_relu", None), ("leaky_relu", 0.2),
               ("elu", None), ("elu", 0.5), ("sigmoid", None)]
RECS = ["sigmoid", "hard_sigmoid"]
ACT_KINKS = {"relu": [0.0], "leaky_relu": [0.0], "elu": [0.0]}
REC_KINKS = {"hard_sigmoid": [-2.5, 2.5]}


def make_lengths(kind, T, B):
    return {"none": None, "all_T": np.full(B, T), "all_1": np.ones(B, dtype=np.int64),
            "mixed": np.array([T, 1, 2][:B])}[kind]


def full_options(cell):
    """Every option of ``cell`` on, with activations other than PyTorch's."""
    config = {"mask": True, "activation": "elu"}
    if cell != "rnn":
        config.update(layer_norm=True, recurrent_activation="hard_sigmoid")
    if cell == "lstm":
        config["proj"] = True
    return config


CONFIGS = {"pytorch": lambda cell: {}, "full": full_options}
SEMANTIC = [(cell, config) for cell in CELLS for config in CONFIGS]


# ---------------------------------------------------------------------------
# One case: inputs, params, options; uniform forward/backward adapters
# ---------------------------------------------------------------------------


def draw(cell, rng, shape="small", step=False, layer_norm=False, proj=False, mask=False,
         biases=("b_ih", "b_hh"), **activations):
    """Random inputs {x, h0(, c0)}, params and forward options of one configuration, float64;
    x is (B, I) for a single ``step``. ``activations``: activation, activation_param,
    recurrent_activation."""
    T, B, I, H, P = SHAPES[shape]
    G, R = GATES[cell], P if proj else H
    v = {"x": rng.standard_normal((B, I) if step else (T, B, I)), "h0": rng.uniform(-1, 1, (B, R))}
    if cell == "lstm":
        v["c0"] = rng.uniform(-1, 1, (B, H))
    params = {"w_ih": rng.uniform(-0.7, 0.7, (G * H, I)),
              "w_hh": rng.uniform(-0.7, 0.7, (G * H, R))}
    if proj:
        params["w_hr"] = rng.uniform(-0.7, 0.7, (P, H))
    opts = dict(activations)
    if layer_norm:
        opts["layer_norm"] = True
        for which, size in [("ih", G * H), ("hh", G * H)] + ([("c", H)] if cell == "lstm" else []):
            params[f"ln_{which}_w"] = rng.uniform(0.5, 1.5, size)
            params[f"ln_{which}_b"] = rng.uniform(-0.5, 0.5, size)
    else:
        for name in biases:
            params[name] = rng.uniform(-0.5, 0.5, G * H)
    if mask:
        # dropout p = 0.3, already scaled; at least one dropped and one kept unit
        m = (rng.random((B, R)) > 0.3) / 0.7
        m[0, 0], m[-1, -1] = 0.0, 1 / 0.7
        opts["rec_mask"] = m
    return v, params, opts


def semantic_case(cell, config, rng, step=False, dtype=np.float64):
    """A "wide" case of PyTorch's cell or with every option on, in ``dtype``."""
    v, params, opts = draw(cell, rng, "wide", step, **CONFIGS[config](cell))
    cast = lambda d: {k: a.astype(dtype) if isinstance(a, np.ndarray) else a for k, a in d.items()}
    return cast(v), cast(params), cast(opts)


def forward(cell, v, params, lengths=None, **opts):
    """-> (outputs, cache): [y, h_n(, c_n)] of the sequence functions, or [h', (c')] of the
    single-step cells when x is (B, I)."""
    states = [v[s] for s in STATES[cell]]
    if v["x"].ndim == 2:
        assert lengths is None
        *outs, cache = STEP_FORWARD[cell](v["x"], *states, params, **opts)
    else:
        *outs, cache = FORWARD[cell](v["x"], *states, params, lengths, **opts)
    return outs, cache


def backward(cell, douts, cache, step=False):
    """-> {"x", "h0"(, "c0") and every parameter key: gradient}."""
    *dinputs, grads = (STEP_BACKWARD if step else BACKWARD)[cell](*douts, cache)
    return {**dict(zip(["x", *STATES[cell]], dinputs)), **grads}


def kink_margin(cache, opts):
    """Smallest distance of a pre-activation from a kink, over the steps that run."""
    act_kinks = ACT_KINKS.get(opts.get("activation", "tanh"), [])
    rec_kinks = REC_KINKS.get(opts.get("recurrent_activation", "sigmoid"), [])
    margin = np.inf
    for t, step in enumerate(cache["steps"]):
        running = cache["keep"][t, :, 0]
        for arrays, kinks in [(step["pre_act"], act_kinks), (step["pre_rec"], rec_kinks)]:
            for a, k in itertools.product(arrays, kinks):
                margin = min(margin, np.abs(a[running] - k).min(initial=np.inf))
    return margin


def max_rstd(cache):
    """Largest layer-norm 1/std over the steps that run (0 without layer norm)."""
    worst = 0.0
    for t, step in enumerate(cache["steps"]):
        running = cache["keep"][t, :, 0]
        for key in ("ln_x", "ln_h", "ln_c"):
            if step.get(key) is None:
                continue
            n, rstd = step[key]
            counts = np.abs(n).max(axis=-1, keepdims=True) > 0
            worst = max(worst, np.max(np.where(counts, rstd, 0)[running], initial=0.0))
    return worst


def draw_clear_of_kinks(cell, seed, lengths=None, **config):
    """``draw`` with new seeds until all pre-activations avoid the kinks and every layer norm
    is well conditioned."""
    for attempt in range(200):
        v, params, opts = draw(cell, np.random.default_rng(1000 * seed + attempt), **config)
        _, cache = forward(cell, v, params, lengths, **opts)
        if kink_margin(cache, opts) >= KINK_MARGIN and max_rstd(cache) <= MAX_RSTD:
            return v, params, opts
    raise RuntimeError(f"could not draw {cell} {config} away from the kinks")


# ---------------------------------------------------------------------------
# Finite differences
# ---------------------------------------------------------------------------


def check_gradients(label, cell, v, params, lengths, opts, seed):
    outs, cache = forward(cell, v, params, lengths, **opts)
    rng = np.random.default_rng(seed)
    out_weights = [rng.standard_normal(o.shape) for o in outs]
    analytic = backward(cell, out_weights, cache, step=v["x"].ndim == 2)
    assert sorted(analytic) == sorted([*v, *params]), f"{label}: gradients {sorted(analytic)}"

    def loss():
        outs_, _ = forward(cell, v, params, lengths, **opts)
        return sum(np.sum(o * w) for o, w in zip(outs_, out_weights))

    for name, where in [*v.items(), *params.items()]:
        numeric = finite_difference(loss, where, EPS)
        got = analytic[name]
        assert got.shape == numeric.shape, f"{label}: d{name} shape {got.shape}"
        scale = np.maximum(np.maximum(np.abs(got), np.abs(numeric)), GRAD_FLOOR)
        err = np.abs(got - numeric) / scale
        worst = tuple(int(i) for i in np.unravel_index(np.argmax(err), err.shape))
        assert err[worst] <= RTOL, (
            f"{label}: d{name}{list(worst)} analytic {got[worst]:.10g} vs "
            f"numeric {numeric[worst]:.10g} (relative error {err[worst]:.2e} > {RTOL})")


def gradient_cases():
    """(cell, config, shape, lengths) of the sequence finite-difference checks."""
    cases = []
    flags = {"lstm": ["layer_norm", "proj", "mask"], "gru": ["layer_norm", "mask"], "rnn": ["mask"]}
    for cell in CELLS:
        # the options on and off, without and with lengths
        for on in itertools.product([False, True], repeat=len(flags[cell])):
            config = {flag: True for flag, o in zip(flags[cell], on) if o}
            cases += [(cell, config, "small", lengths) for lengths in ("none", "mixed")]
    for cell, act in [("lstm", "tanh"), ("gru", "tanh"), ("rnn", "tanh"), ("rnn", "relu")]:
        # PyTorch's cells: every kind of lengths, and one sequence of one step
        cases += [(cell, {"activation": act}, "wide", lengths) for lengths in LENGTHS]
        cases.append((cell, {"activation": act}, "single", "none"))
    for (a, (act, param)), (r, rec) in itertools.product(enumerate(ACTIVATIONS),
                                                         enumerate(RECS)):
        # every (activation, recurrent activation) pair; layer norm alternates so that each
        # activation and each recurrent activation meets it on and off
        config = dict(activation=act, activation_param=param, recurrent_activation=rec,
                      layer_norm=bool((a + r) % 2), mask=True)
        cases += [("lstm", dict(config, proj=True), "small", "mixed"),
                  ("gru", config, "small", "mixed")]
    for (act, param), mask, lengths in itertools.product(ACTIVATIONS, [False, True],
                                                         ["none", "mixed"]):
        cases.append(("rnn", dict(activation=act, activation_param=param, mask=mask), "small",
                      lengths))
    for cell, biases in [("lstm", ()), ("lstm", ("b_hh",)), ("gru", ("b_ih",)), ("rnn", ())]:
        cases.append((cell, dict(biases=biases, proj=cell == "lstm", mask=True), "small",
                      "mixed"))
    return cases


def case_id(case):
    cell, config, *rest = case
    return "-".join([cell, *[f"{k}={v}" for k, v in config.items()], *rest])


@pytest.mark.parametrize("case", gradient_cases(), ids=case_id)
def test_sequence_gradients(case):
    cell, config, shape, lengths_kind = case
    T, B = SHAPES[shape][:2]
    lengths = make_lengths(lengths_kind, T, B)
    seed = zlib.crc32(case_id(case).encode())
    v, params, opts = draw_clear_of_kinks(cell, seed, lengths, shape=shape, **config)
    check_gradients(case_id(case), cell, v, params, lengths, opts, seed)


STEP_CASES = [(cell, {}) for cell in CELLS] + [("rnn", {"activation": "relu"})] + \
    [(cell, full_options(cell)) for cell in CELLS]


@pytest.mark.parametrize("case", STEP_CASES, ids=case_id)
def test_single_step_gradients(case):
    cell, config = case
    seed = zlib.crc32(("step " + case_id(case)).encode())
    v, params, opts = draw_clear_of_kinks(cell, seed, step=True, **config)
    check_gradients(f"{case_id(case)} step", cell, v, params, None, opts, seed)


# ---------------------------------------------------------------------------
# The forward against a second transcription of the equations
# ---------------------------------------------------------------------------


def spec_ln(a, w, b, eps=1e-5):
    return w * (a - a.mean(-1, keepdims=True)) / np.sqrt(a.var(-1, keepdims=True) + eps) + b


SPEC_ACT = {
    "tanh": lambda a, s: np.tanh(a),
    "relu": lambda a, s: np.where(a > 0, a, 0.0),
    "leaky_relu": lambda a, s: np.where(a > 0, a, (0.01 if s is None else s) * a),
    "elu": lambda a, s: np.where(a > 0, a, (1.0 if s is None else s) * (np.exp(a) - 1)),
}
SPEC_REC = {"sigmoid": lambda a: 1 / (1 + np.exp(-a)),
            "hard_sigmoid": lambda a: np.minimum(np.maximum(0.2 * a + 0.5, 0), 1)}


def spec_run(cell, v, p, opts):
    """The equations, one gate at a time, no lengths."""
    G, H = GATES[cell], p["w_ih"].shape[0] // GATES[cell]
    act = lambda a: SPEC_ACT[opts.get("activation", "tanh")](a, opts.get("activation_param"))
    rec = SPEC_REC[opts.get("recurrent_activation", "sigmoid")]
    layer_norm, mask = opts.get("layer_norm", False), opts.get("rec_mask")
    h, c = v["h0"], v.get("c0")
    ys = []
    for x in v["x"]:
        hm = h if mask is None else mask * h
        ax, ah = [], []
        for g in range(G):
            blk = slice(g * H, (g + 1) * H)
            px, ph = x @ p["w_ih"][blk].T, hm @ p["w_hh"][blk].T
            if layer_norm:
                px = spec_ln(px, p["ln_ih_w"][blk], p["ln_ih_b"][blk])
                ph = spec_ln(ph, p["ln_hh_w"][blk], p["ln_hh_b"][blk])
            else:
                px = px + p.get("b_ih", np.zeros(G * H))[blk]
                ph = ph + p.get("b_hh", np.zeros(G * H))[blk]
            ax.append(px)
            ah.append(ph)
        if cell == "lstm":
            i, f, o = (rec(ax[k] + ah[k]) for k in (0, 1, 3))
            c = f * c + i * act(ax[2] + ah[2])
            r = o * act(spec_ln(c, p["ln_c_w"], p["ln_c_b"]) if layer_norm else c)
            h = r @ p["w_hr"].T if "w_hr" in p else r
        elif cell == "gru":
            r, z = rec(ax[0] + ah[0]), rec(ax[1] + ah[1])
            h = (1 - z) * act(ax[2] + r * ah[2]) + z * h
        else:
            h = act(ax[0] + ah[0])
        ys.append(h)
    return [np.stack(ys), h] + ([c] if cell == "lstm" else [])


SPEC_CASES = [(cell, {}) for cell in CELLS] + [("rnn", {"activation": "relu"})] + [
    ("lstm", dict(proj=True, mask=True, activation="elu", activation_param=0.7,
                  recurrent_activation="hard_sigmoid", layer_norm=ln)) for ln in (False, True)
] + [
    ("gru", dict(mask=True, activation="leaky_relu", activation_param=0.1,
                 recurrent_activation="hard_sigmoid", layer_norm=ln)) for ln in (False, True)
] + [("rnn", dict(mask=True, activation="elu"))]


@pytest.mark.parametrize("case", SPEC_CASES, ids=case_id)
def test_forward_matches_transcription(case):
    cell, config = case
    v, params, opts = draw(cell, np.random.default_rng(7), "wide", **config)
    outs, _ = forward(cell, v, params, **opts)
    for name, got, want in zip(OUTPUTS, outs, spec_run(cell, v, params, opts)):
        assert_close(f"{cell} {name}", got, want, 1e-12)


# ---------------------------------------------------------------------------
# Parity with PyTorch (skipped when torch is not installed)
# ---------------------------------------------------------------------------

TORCH_NAMES = {"w_ih": "weight_ih_l0", "w_hh": "weight_hh_l0", "b_ih": "bias_ih_l0",
               "b_hh": "bias_hh_l0", "w_hr": "weight_hr_l0"}


def torch_run(torch, cell, v, params, opts, lengths, douts):
    """torch.nn.LSTM/GRU/RNN forward and backward of sum(out * dout): (outs, grads) as numpy,
    grads keyed as ours."""
    _, _, I, H, P = SHAPES["wide"]
    if cell == "lstm":
        module = torch.nn.LSTM(I, H, proj_size=P if "w_hr" in params else 0)
    elif cell == "gru":
        module = torch.nn.GRU(I, H)
    else:
        module = torch.nn.RNN(I, H, nonlinearity=opts.get("activation", "tanh"))
    module = module.double()
    with torch.no_grad():
        for ours, theirs in TORCH_NAMES.items():
            if ours in params:
                getattr(module, theirs).copy_(torch.from_numpy(params[ours]))
    x = torch.from_numpy(v["x"]).requires_grad_()
    states = [torch.from_numpy(v[s][None]).requires_grad_() for s in STATES[cell]]
    hx = tuple(states) if cell == "lstm" else states[0]
    if lengths is None:
        y, finals = module(x, hx)
    else:
        packed = torch.nn.utils.rnn.pack_padded_sequence(
            x, torch.as_tensor(lengths, dtype=torch.int64), enforce_sorted=False)
        y, finals = module(packed, hx)
        y, _ = torch.nn.utils.rnn.pad_packed_sequence(y, total_length=x.shape[0])
    outs = [y] + [f[0] for f in (finals if cell == "lstm" else [finals])]
    sum((o * torch.from_numpy(d)).sum() for o, d in zip(outs, douts)).backward()
    grads = {"x": x.grad, **{s: t.grad[0] for s, t in zip(STATES[cell], states)}}
    grads.update({ours: getattr(module, theirs).grad for ours, theirs in TORCH_NAMES.items()
                  if ours in params})
    return [o.detach().numpy() for o in outs], {k: g.numpy() for k, g in grads.items()}


@pytest.mark.parametrize("lengths_kind", ["none", "mixed"])
@pytest.mark.parametrize("case", [("lstm", {}), ("lstm", {"proj": True}), ("gru", {}),
                                  ("rnn", {}), ("rnn", {"activation": "relu"})], ids=case_id)
def test_torch_parity(case, lengths_kind):
    torch = pytest.importorskip("torch")
    cell, config = case
    T, B = SHAPES["wide"][:2]
    lengths = make_lengths(lengths_kind, T, B)
    v, params, opts = draw(cell, np.random.default_rng(23), "wide", **config)
    outs, cache = forward(cell, v, params, lengths, **opts)
    rng = np.random.default_rng(24)
    douts = [rng.standard_normal(o.shape) for o in outs]
    t_outs, t_grads = torch_run(torch, cell, v, params, opts, lengths, douts)
    grads = backward(cell, douts, cache)
    assert sorted(grads) == sorted(t_grads)
    pairs = [(name, outs[k], t_outs[k]) for k, name in enumerate(OUTPUTS[:len(outs)])]
    for name, got, want in pairs + [(f"d{k}", grads[k], t_grads[k]) for k in grads]:
        assert_close(f"{case_id(case)} {name}", got, want, 1e-10)
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12, err_msg=name)


def test_layer_norm_matches_torch():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(22)
    B, G, H = 3, 4, 3
    a = rng.standard_normal((B, G * H)) * 3 + 1
    w, b = rng.uniform(0.5, 1.5, G * H), rng.standard_normal(G * H)
    dout = rng.standard_normal((B, G * H))
    out, cache = layer_norm_blocks_forward(a, w, b, G, eps=1e-5)
    da, dw, db = layer_norm_blocks_backward(dout, cache, w)

    ta, tw, tb = (torch.tensor(z, requires_grad=True) for z in (a, w, b))
    blocks = [F.layer_norm(ta[:, g * H:(g + 1) * H], (H,), tw[g * H:(g + 1) * H],
                           tb[g * H:(g + 1) * H], eps=1e-5) for g in range(G)]
    tout = torch.cat(blocks, dim=1)
    (tout * torch.tensor(dout)).sum().backward()
    assert_close("layer norm out", out, tout.detach().numpy(), 1e-12)
    for name, got, want in [("da", da, ta.grad), ("dw", dw, tw.grad), ("db", db, tb.grad)]:
        assert_close(f"layer norm {name}", got, want.numpy(), 1e-12)


# ---------------------------------------------------------------------------
# Semantics: lengths, single steps, None arguments, dtypes, inputs left alone
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("cell,config", SEMANTIC)
def test_lengths_end_each_sequence(cell, config, rng):
    """Zero outputs past each sequence's end; outputs and final states those of the sequence
    run alone; full lengths the same as none."""
    v, params, opts = semantic_case(cell, config, rng)
    T, B = v["x"].shape[:2]
    lengths = make_lengths("mixed", T, B)
    (y, *finals), _ = forward(cell, v, params, lengths, **opts)
    for b, n in enumerate(lengths):
        assert np.all(y[n:, b] == 0), f"{cell}: y[{n}:, {b}] is not zero"
        assert np.all(np.any(y[:n, b] != 0, axis=-1)), f"{cell}: y[:{n}, {b}] has a zero row"
        alone = {"x": v["x"][:n, b:b + 1], **{s: v[s][b:b + 1] for s in STATES[cell]}}
        alone_opts = dict(opts)
        if "rec_mask" in opts:
            alone_opts["rec_mask"] = opts["rec_mask"][b:b + 1]
        outs_b, _ = forward(cell, alone, params, None, **alone_opts)
        for name, got, want in zip(OUTPUTS, [y[:n, b:b + 1]] + [f[b:b + 1] for f in finals],
                                   outs_b):
            assert_close(f"{cell} {name}[{b}]", got, want, 1e-13)
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14, err_msg=name)

    outs_none, cache_none = forward(cell, v, params, None, **opts)
    outs_full, cache_full = forward(cell, v, params, make_lengths("all_T", T, B), **opts)
    for a, b in zip(outs_none, outs_full):
        np.testing.assert_array_equal(a, b)
    douts = [rng.standard_normal(o.shape) for o in outs_none]
    grads_none, grads_full = backward(cell, douts, cache_none), backward(cell, douts, cache_full)
    for k in grads_none:
        np.testing.assert_array_equal(grads_none[k], grads_full[k], err_msg=f"{cell} d{k}")


@pytest.mark.parametrize("cell,config", SEMANTIC)
def test_single_steps_chain_to_the_sequence(cell, config, rng):
    v, params, opts = semantic_case(cell, config, rng)
    (y, *finals), _ = forward(cell, v, params, **opts)
    state = {s: v[s] for s in STATES[cell]}
    for t in range(len(y)):
        new_states, _ = forward(cell, dict(state, x=v["x"][t]), params, **opts)
        state = dict(zip(STATES[cell], new_states))
        np.testing.assert_array_equal(y[t], state["h0"], err_msg=f"{cell} y[{t}]")
    for final, s in zip(finals, STATES[cell]):
        np.testing.assert_array_equal(final, state[s], err_msg=f"{cell} final {s}")


@pytest.mark.parametrize("step", [False, True], ids=["sequence", "step"])
@pytest.mark.parametrize("cell,config", SEMANTIC)
def test_none_states_and_gradients_mean_zeros(cell, config, step, rng):
    v, params, opts = semantic_case(cell, config, rng, step)
    lengths = None if step else make_lengths("mixed", *v["x"].shape[:2])
    zeros = dict(v, **{s: np.zeros_like(v[s]) for s in STATES[cell]})
    nones = dict(v, **{s: None for s in STATES[cell]})
    outs_z, cache_z = forward(cell, zeros, params, lengths, **opts)
    outs_n, cache_n = forward(cell, nones, params, lengths, **opts)
    for a, b in zip(outs_z, outs_n):
        np.testing.assert_array_equal(a, b)
    dy = rng.standard_normal(outs_z[0].shape)
    with_zeros = backward(cell, [dy] + [np.zeros_like(o) for o in outs_z[1:]], cache_z, step)
    with_nones = backward(cell, [dy] + [None] * (len(outs_z) - 1), cache_n, step)
    for k in with_zeros:
        np.testing.assert_array_equal(with_zeros[k], with_nones[k], err_msg=f"{cell} d{k}")
    all_none = backward(cell, [None] * len(outs_z), cache_n, step)
    assert not any(np.any(g) for g in all_none.values())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cell,config", SEMANTIC)
def test_dtype_in_dtype_out(cell, config, dtype):
    for step in (False, True):
        v, params, opts = semantic_case(cell, config, np.random.default_rng(17), step, dtype)
        v64, p64, o64 = semantic_case(cell, config, np.random.default_rng(17), step)
        lengths = None if step else make_lengths("mixed", *v["x"].shape[:2])
        outs, cache = forward(cell, v, params, lengths, **opts)
        outs64, _ = forward(cell, v64, p64, lengths, **o64)
        for name, a, b in zip(OUTPUTS, outs, outs64):
            assert a.dtype == dtype, f"{cell}: {name} is {a.dtype}"
            assert_close(f"{cell} {name} {np.dtype(dtype)}", a, b, 1e-5)
            np.testing.assert_allclose(a, b, atol=1e-5, err_msg=name)
        grads = backward(cell, [np.ones(o.shape, dtype) for o in outs], cache, step)
        for name, g in grads.items():
            assert g.dtype == dtype, f"{cell}: d{name} is {g.dtype}"


@pytest.mark.parametrize("step", [False, True], ids=["sequence", "step"])
@pytest.mark.parametrize("cell,config", SEMANTIC)
def test_backward_leaves_inputs_and_cache_alone(cell, config, step, rng):
    v, params, opts = semantic_case(cell, config, rng, step)
    lengths = None if step else make_lengths("mixed", *v["x"].shape[:2])
    originals = {k: a.copy() for k, a in {**v, **params}.items()}
    outs, cache = forward(cell, v, params, lengths, **opts)
    douts = [rng.standard_normal(o.shape) for o in outs]
    douts_copy = [d.copy() for d in douts]
    first = backward(cell, douts, cache, step)
    second = backward(cell, douts, cache, step)   # the cache must still be intact
    for d, d0 in zip(douts, douts_copy):
        np.testing.assert_array_equal(d, d0)
    for k, a in {**v, **params}.items():
        np.testing.assert_array_equal(a, originals[k], err_msg=k)
    for k in first:
        np.testing.assert_array_equal(first[k], second[k], err_msg=f"{cell} d{k}")


@pytest.mark.parametrize("cell", CELLS)
def test_missing_biases_equal_zero_biases(cell, rng):
    v, params, opts = draw(cell, rng, proj=cell == "lstm", mask=True, biases=())
    G, H = GATES[cell], SHAPES["small"][3]
    zeros = dict(params, b_ih=np.zeros(G * H), b_hh=np.zeros(G * H))
    lengths = make_lengths("mixed", *v["x"].shape[:2])
    outs, cache = forward(cell, v, params, lengths, **opts)
    outs0, cache0 = forward(cell, v, zeros, lengths, **opts)
    for a, b in zip(outs, outs0):
        np.testing.assert_array_equal(a, b)
    douts = [np.ones(o.shape) for o in outs]
    grads, grads0 = backward(cell, douts, cache), backward(cell, douts, cache0)
    assert sorted(grads) == sorted(["x", *STATES[cell], *params])
    for k in grads:
        np.testing.assert_array_equal(grads[k], grads0[k], err_msg=f"{cell} d{k}")


@pytest.mark.parametrize("cell", CELLS)
def test_all_ones_mask_equals_no_mask(cell, rng):
    v, params, _ = draw(cell, rng)
    lengths = make_lengths("mixed", *v["x"].shape[:2])
    outs, cache = forward(cell, v, params, lengths)
    outs1, cache1 = forward(cell, v, params, lengths, rec_mask=np.ones_like(v["h0"]))
    for a, b in zip(outs, outs1):
        np.testing.assert_array_equal(a, b)
    douts = [np.ones(o.shape) for o in outs]
    grads, grads1 = backward(cell, douts, cache), backward(cell, douts, cache1)
    for k in grads:
        np.testing.assert_array_equal(grads[k], grads1[k], err_msg=f"{cell} d{k}")


def test_gru_update_gate_meets_the_unmasked_state(rng):
    # a mask of zeros hides h from W_hh only: h' = (1 - z) n + z h still carries h
    v, params, _ = draw("gru", rng)
    H = SHAPES["small"][3]
    zero = {"rec_mask": np.zeros_like(v["h0"])}
    (y, _), _ = forward("gru", v, params, **zero)
    (y_other, _), _ = forward("gru", dict(v, h0=v["h0"] + 1), params, **zero)
    ax = v["x"][0] @ params["w_ih"].T + params["b_ih"]
    z = sigmoid(ax[:, H:2 * H] + params["b_hh"][H:2 * H])
    assert_close("y[0] shift", y_other[0] - y[0], z * 1.0, 1e-12)


# ---------------------------------------------------------------------------
# Bad options and inputs
# ---------------------------------------------------------------------------


def _lstm_call(**change):
    """lstm_forward on a valid projected case, with ``change`` applied (keys "params" and
    "h0" replace those arguments, the rest are options)."""
    v, params, _ = draw("lstm", np.random.default_rng(19), proj=True)
    change = dict(change)
    params = change.pop("params", params)
    h0 = change.pop("h0", v["h0"])
    return lstm_forward(v["x"], h0, v["c0"], params, **change)


@pytest.mark.parametrize("change,message", [           # the "small" shape: B, I, H = 3, 2, 3
    ({"activation": "softplus"}, "activation must be one of"),
    ({"activation": "hard_sigmoid"}, "activation must be one of"),
    ({"recurrent_activation": "tanh"}, "recurrent_activation must be one of"),
    ({"activation": "leaky_relu", "activation_param": -0.1}, "activation_param"),
    ({"activation": "elu", "activation_param": float("nan")}, "activation_param"),
    ({"layer_norm": True}, "unexpected keys"),
    ({"layer_norm": True, "params": {"w_ih": np.zeros((12, 2)), "w_hh": np.zeros((12, 3))}},
     "miss"),
    ({"rec_mask": np.ones((3, 3))}, "rec_mask must have shape"),
    ({"h0": np.zeros((3, 3))}, "h0 must have shape"),
    ({"eps": 0.0}, "eps"),
])
def test_bad_lstm_options_are_rejected(change, message):
    with pytest.raises(ValueError, match=message):
        _lstm_call(**change)


def test_bad_params_are_rejected():
    v, params, _ = draw("gru", np.random.default_rng(20), layer_norm=True)
    H = SHAPES["small"][3]
    with pytest.raises(ValueError, match="unexpected keys"):
        gru_forward(v["x"], v["h0"], dict(params, b_ih=np.zeros(3 * H)), layer_norm=True)
    with pytest.raises(ValueError, match="unexpected keys"):
        gru_forward(v["x"], v["h0"], params)           # LN params without layer_norm
    with pytest.raises(ValueError, match="unexpected keys"):
        gru_forward(v["x"], v["h0"], dict(params, w_hr=np.zeros((2, H))), layer_norm=True)
    with pytest.raises(ValueError, match="ln_hh_w must have shape"):
        gru_forward(v["x"], v["h0"], dict(params, ln_hh_w=np.ones(H)), layer_norm=True)


@pytest.mark.parametrize("bad", [[0, 1, 2], [1, 4, 2], [1, 2]])
@pytest.mark.parametrize("cell", CELLS)
def test_invalid_lengths_are_rejected(cell, bad):
    v, params, opts = draw(cell, np.random.default_rng(21), **full_options(cell))
    with pytest.raises(ValueError, match="lengths"):
        forward(cell, v, params, np.array(bad), **opts)


def test_bad_single_step_inputs_are_named():
    v, params, _ = draw("lstm", np.random.default_rng(22), step=True)
    with pytest.raises(ValueError, match=r"x must have shape \(B, I\)"):
        lstm_cell_forward(v["x"][None], v["h0"], v["c0"], params)
    with pytest.raises(ValueError, match="c must have shape"):
        lstm_cell_forward(v["x"], v["h0"], v["c0"][:, 1:], params)
    _, _, cache = lstm_cell_forward(v["x"], v["h0"], v["c0"], params)
    with pytest.raises(ValueError, match="dh_new must have shape"):
        lstm_cell_backward(v["h0"][:, 1:], None, cache)


# ---------------------------------------------------------------------------
# Activations and layer norm
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("f,df,want", [
    (sigmoid, sigmoid_grad_from_output, lambda x: 1 / (1 + np.exp(-x))),
    (tanh, tanh_grad_from_output, np.tanh),
    (relu, relu_grad_from_output, lambda x: np.maximum(x, 0)),
    (leaky_relu, leaky_relu_grad_from_output, lambda x: np.where(x > 0, x, 0.01 * x)),
    (lambda a: leaky_relu(a, 0.3), lambda y: leaky_relu_grad_from_output(y, 0.3),
     lambda x: np.where(x > 0, x, 0.3 * x)),
    (elu, elu_grad_from_output, lambda x: np.where(x > 0, x, np.exp(x) - 1)),
    (lambda a: elu(a, 0.5), lambda y: elu_grad_from_output(y, 0.5),
     lambda x: np.where(x > 0, x, 0.5 * (np.exp(x) - 1))),
    (hard_sigmoid, hard_sigmoid_grad_from_output, lambda x: np.clip(0.2 * x + 0.5, 0, 1)),
], ids=["sigmoid", "tanh", "relu", "leaky_relu", "leaky_relu_0.3", "elu", "elu_0.5",
        "hard_sigmoid"])
def test_activation_values_and_derivatives_from_output(f, df, want):
    x = np.linspace(-4, 4, 33) + 0.05        # away from 0 and +-2.5
    np.testing.assert_allclose(f(x), want(x), rtol=1e-14, atol=1e-15)
    numeric = (f(x + EPS) - f(x - EPS)) / (2 * EPS)
    np.testing.assert_allclose(df(f(x)), numeric, rtol=1e-7, atol=1e-9)


def test_activation_derivatives_at_the_kinks():
    # the left derivative at 0; 0 at both corners of hard_sigmoid
    assert leaky_relu_grad_from_output(leaky_relu(np.zeros(1)))[0] == 0.01
    assert elu_grad_from_output(elu(np.zeros(1), 0.5), 0.5)[0] == 0.5
    assert np.all(hard_sigmoid_grad_from_output(hard_sigmoid(np.array([-2.5, 2.5]))) == 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_activations_keep_dtype_and_do_not_overflow(dtype):
    x = np.array([-1e4, -1000.0, -50.0, -1.0, 0.0, 1.0, 50.0, 1000.0, 1e4], dtype=dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        outs = [f(x) for f in (sigmoid, tanh, relu, leaky_relu, elu, hard_sigmoid)]
        outs += [leaky_relu_grad_from_output(leaky_relu(x)), elu_grad_from_output(elu(x)),
                 hard_sigmoid_grad_from_output(hard_sigmoid(x))]
    for out in outs:
        assert out.dtype == dtype and np.all(np.isfinite(out))
    s = outs[0]
    assert s[0] == 0 and s[-1] == 1 and s[4] == 0.5
    np.testing.assert_allclose(s[3:6], 1 / (1 + np.exp(-x[3:6].astype(np.float64))), rtol=1e-6)


def test_layer_norm_gradients_by_finite_differences():
    rng = np.random.default_rng(21)
    a, w, b = rng.standard_normal((4, 6)), rng.uniform(0.5, 1.5, 6), rng.standard_normal(6)
    dout = rng.standard_normal((4, 6))
    _, cache = layer_norm_forward(a, w, b)
    da, dw, db = layer_norm_backward(dout, cache, w)
    loss = lambda: np.sum(layer_norm_forward(a, w, b)[0] * dout)
    for name, arr, analytic in [("a", a, da), ("w", w, dw), ("b", b, db)]:
        assert_close(f"layer norm d{name}", analytic, finite_difference(loss, arr, EPS), 1e-7)
