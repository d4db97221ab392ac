"""Tests of the extended NumPy reference cells (``lstmx.reference.extended``).

* Every gradient (dx, dh0, dc0 and each parameter) is compared with central
  finite differences, in float64, of a random scalar loss
      L = sum(y * w_y) + sum(h_n * w_h) (+ sum(c_n * w_c)),
  over the options: layer norm, LSTM projection, recurrent mask, lengths,
  missing biases, every activation (with default and other parameters) and
  both recurrent activations.
  Kinks: relu, leaky_relu and elu bend at 0, hard_sigmoid at +-2.5.  Each
  case is redrawn (new seed) until every pre-activation that reaches such a
  function, at every step that runs, is at least KINK_MARGIN away from the
  kink, so the finite-difference steps never straddle one.  The forward
  keeps those pre-activations in each step cache ("pre_act", "pre_rec").
  Layer norm of a block whose values nearly agree is steeply curved
  (1/rstd small), which spoils central differences; draws with
  rstd > MAX_RSTD at a running step are redrawn as well (a block of exact
  zeros, from a fully masked h, has n = 0 and does not count).
* The forward is compared with a second, independent transcription of the
  spec's equations written here (per gate, with np.var for layer norm).
* With the default options the results equal the plain reference's.
* With torch: nn.LSTM(proj_size=P) parity (with and without packed
  lengths), and layer norm against torch.nn.functional.layer_norm.
* Activations, dtypes, None arguments, lengths semantics, bad options.

Everything is tiny (T=3, B=3, I=2, H=3, P=2) so the file runs in seconds.
"""

import itertools

import numpy as np
import pytest

from conftest import assert_close
from lstmx.reference import (
    elu,
    elu_grad_from_output,
    gru_backward,
    gru_backward_ex,
    gru_forward,
    gru_forward_ex,
    hard_sigmoid,
    hard_sigmoid_grad_from_output,
    layer_norm_backward,
    layer_norm_blocks_backward,
    layer_norm_blocks_forward,
    layer_norm_forward,
    leaky_relu,
    leaky_relu_grad_from_output,
    lstm_backward,
    lstm_backward_ex,
    lstm_forward,
    lstm_forward_ex,
    relu,
    rnn_backward,
    rnn_backward_ex,
    rnn_forward,
    rnn_forward_ex,
    sigmoid,
    tanh,
)

T, B, I, H, P = 3, 3, 2, 3, 2
MIXED = np.array([T, 1, 2])          # one full-length, one length-1 sequence
NUM_GATES = {"lstm": 4, "gru": 3, "rnn": 1}

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


# ---------------------------------------------------------------------------
# One case: inputs, params, options; uniform forward/backward adapters
# ---------------------------------------------------------------------------


def state_names(model):
    return ["h0", "c0"] if model == "lstm" else ["h0"]


def draw(model, rng, layer_norm=False, proj=False, mask=False, biases=("b_ih", "b_hh")):
    """Random inputs (x, h0, c0) and params of one configuration, float64."""
    G = NUM_GATES[model]
    R = P if proj else H
    v = {"x": rng.standard_normal((T, B, I)), "h0": rng.uniform(-1, 1, (B, R))}
    if model == "lstm":
        v["c0"] = rng.uniform(-1, 1, (B, H))
    params = {"w_ih": rng.uniform(-0.7, 0.7, (G * H, I)),
              "w_hh": rng.uniform(-0.7, 0.7, (G * H, R))}
    if proj:
        params["w_hr"] = rng.uniform(-0.7, 0.7, (P, H))
    if layer_norm:
        for which, size in [("ih", G * H), ("hh", G * H)] + ([("c", H)] if model == "lstm" else []):
            params[f"ln_{which}_w"] = rng.uniform(0.5, 1.5, size)
            params[f"ln_{which}_b"] = rng.uniform(-0.5, 0.5, size)
    else:
        for name in biases:
            params[name] = rng.uniform(-0.5, 0.5, G * H)
    opts = {}
    if mask:
        # dropout p = 0.3, already scaled; at least one dropped and one kept unit
        m = (rng.random((B, R)) > 0.3) / 0.7
        m[0, 0], m[1, 0] = 0.0, 1 / 0.7
        opts["rec_mask"] = m
    return v, params, opts


def forward(model, v, params, lengths=None, **opts):
    """-> (outputs list, cache); outputs [y, h_n] or [y, h_n, c_n]."""
    if model == "lstm":
        y, h_n, c_n, cache = lstm_forward_ex(v["x"], v["h0"], v["c0"], params, lengths, **opts)
        return [y, h_n, c_n], cache
    fn = gru_forward_ex if model == "gru" else rnn_forward_ex
    y, h_n, cache = fn(v["x"], v["h0"], params, lengths, **opts)
    return [y, h_n], cache


def backward(model, douts, cache):
    """-> (dict of input gradients {x, h0[, c0]}, dict of parameter gradients)."""
    if model == "lstm":
        dx, dh0, dc0, grads = lstm_backward_ex(*douts, cache)
        return {"x": dx, "h0": dh0, "c0": dc0}, grads
    fn = gru_backward_ex if model == "gru" else rnn_backward_ex
    dx, dh0, grads = fn(*douts, cache)
    return {"x": dx, "h0": dh0}, grads


def kink_margin(cache, opts):
    """Smallest distance of a pre-activation from a kink, over the steps that run."""
    act_kinks = ACT_KINKS.get(opts.get("activation", "tanh"), [])
    rec_kinks = REC_KINKS.get(opts.get("recurrent_activation", "sigmoid"), [])
    margin = np.inf
    for t, step in enumerate(cache["steps"]):
        running = cache["keep"][t, :, 0]
        for arrays, kinks in [(step["pre_act"], act_kinks), (step["pre_rec"], rec_kinks)]:
            for a, k in itertools.product(arrays, kinks):
                margin = min(margin, np.abs(a[running] - k).min())
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


def draw_clear_of_kinks(model, seed, lengths=None, opts=None, **config):
    """``draw`` with new seeds until all pre-activations avoid the kinks
    and every layer norm is well conditioned."""
    opts = dict(opts or {})
    for attempt in range(200):
        rng = np.random.default_rng(1000 * seed + attempt)
        v, params, extra = draw(model, rng, **config)
        case_opts = dict(opts, **extra)
        _, cache = forward(model, v, params, lengths, **case_opts)
        if kink_margin(cache, case_opts) >= KINK_MARGIN and max_rstd(cache) <= MAX_RSTD:
            return v, params, case_opts
    raise RuntimeError(f"could not draw {model} {config} {opts} away from the kinks")


# ---------------------------------------------------------------------------
# Finite differences
# ---------------------------------------------------------------------------


def check_gradients(label, model, v, params, lengths, opts, seed):
    outs, cache = forward(model, v, params, lengths, **opts)
    rng = np.random.default_rng(seed)
    out_weights = [rng.standard_normal(o.shape) for o in outs]
    dinputs, dparams = backward(model, out_weights, cache)
    assert sorted(dparams) == sorted(params), f"{label}: grads keys {sorted(dparams)}"

    def loss(v_, params_):
        outs_, _ = forward(model, v_, params_, lengths, **opts)
        return sum(np.sum(o * w) for o, w in zip(outs_, out_weights))

    targets = [(v, name, dinputs[name]) for name in state_names(model) + ["x"]]
    targets += [(params, name, dparams[name]) for name in params]
    for where, name, analytic in targets:
        numeric = np.zeros_like(where[name])
        for idx in np.ndindex(where[name].shape):
            shifted = dict(where)
            shifted[name] = where[name].copy()
            values = []
            for delta in (EPS, -EPS):
                shifted[name][idx] = where[name][idx] + delta
                values.append(loss(shifted, params) if where is v else loss(v, shifted))
            numeric[idx] = (values[0] - values[1]) / (2 * EPS)
        assert analytic.shape == numeric.shape, f"{label}: d{name} shape {analytic.shape}"
        scale = np.maximum(np.maximum(np.abs(analytic), np.abs(numeric)), GRAD_FLOOR)
        err = np.abs(analytic - numeric) / scale
        worst = tuple(int(i) for i in np.unravel_index(np.argmax(err), err.shape))
        assert err[worst] <= RTOL, (
            f"{label}: d{name}{list(worst)} analytic {analytic[worst]:.10g} vs "
            f"numeric {numeric[worst]:.10g} (relative error {err[worst]:.2e} > {RTOL})")


def run_gradient_case(model, seed, lengths, opts, **config):
    v, params, opts = draw_clear_of_kinks(model, seed, lengths, opts, **config)
    label = f"{model} {config} {opts.get('activation')}/{opts.get('activation_param')}/" \
            f"{opts.get('recurrent_activation')} lengths={lengths}"
    check_gradients(label, model, v, params, lengths, opts, seed)


FLAGS = [False, True]


@pytest.mark.parametrize("with_lengths", FLAGS)
@pytest.mark.parametrize("mask", FLAGS)
@pytest.mark.parametrize("proj", FLAGS)
@pytest.mark.parametrize("layer_norm", FLAGS)
def test_lstm_gradients_options(layer_norm, proj, mask, with_lengths):
    seed = 8 * layer_norm + 4 * proj + 2 * mask + with_lengths
    run_gradient_case("lstm", 100 + seed, MIXED if with_lengths else None,
                      {"layer_norm": layer_norm}, proj=proj, mask=mask, layer_norm=layer_norm)


@pytest.mark.parametrize("rec", RECS)
@pytest.mark.parametrize("act", ACTIVATIONS)
def test_lstm_gradients_activations(act, rec):
    # every (activation, recurrent activation) pair; layer norm alternates so
    # that each activation and each recurrent activation meets it on and off
    seed = 200 + ACTIVATIONS.index(act) * 2 + RECS.index(rec)
    layer_norm = bool((ACTIVATIONS.index(act) + RECS.index(rec)) % 2)
    opts = {"activation": act[0], "activation_param": act[1], "recurrent_activation": rec,
            "layer_norm": layer_norm}
    run_gradient_case("lstm", seed, MIXED, opts, proj=True, mask=True, layer_norm=layer_norm)


@pytest.mark.parametrize("with_lengths", FLAGS)
@pytest.mark.parametrize("mask", FLAGS)
@pytest.mark.parametrize("layer_norm", FLAGS)
def test_gru_gradients_options(layer_norm, mask, with_lengths):
    seed = 300 + 4 * layer_norm + 2 * mask + with_lengths
    run_gradient_case("gru", seed, MIXED if with_lengths else None,
                      {"layer_norm": layer_norm}, mask=mask, layer_norm=layer_norm)


@pytest.mark.parametrize("rec", RECS)
@pytest.mark.parametrize("act", ACTIVATIONS)
def test_gru_gradients_activations(act, rec):
    # every (activation, recurrent activation) pair; layer norm alternates so
    # that each activation and each recurrent activation meets it on and off
    seed = 400 + ACTIVATIONS.index(act) * 2 + RECS.index(rec)
    layer_norm = bool((ACTIVATIONS.index(act) + RECS.index(rec)) % 2)
    opts = {"activation": act[0], "activation_param": act[1], "recurrent_activation": rec,
            "layer_norm": layer_norm}
    run_gradient_case("gru", seed, MIXED, opts, mask=True, layer_norm=layer_norm)


@pytest.mark.parametrize("with_lengths", FLAGS)
@pytest.mark.parametrize("mask", FLAGS)
@pytest.mark.parametrize("act", ACTIVATIONS)
def test_rnn_gradients(act, mask, with_lengths):
    opts = {"activation": act[0], "activation_param": act[1]}
    seed = 500 + ACTIVATIONS.index(act) * 4 + 2 * mask + with_lengths
    run_gradient_case("rnn", seed, MIXED if with_lengths else None, opts, mask=mask)


@pytest.mark.parametrize("model,biases", [("lstm", ()), ("lstm", ("b_hh",)),
                                          ("gru", ("b_ih",)), ("rnn", ())])
def test_gradients_without_biases(model, biases):
    config = {"proj": True} if model == "lstm" else {}
    run_gradient_case(model, 600 + len(biases), MIXED, {}, mask=True, biases=biases, **config)


# ---------------------------------------------------------------------------
# The forward against a second transcription of the spec
# ---------------------------------------------------------------------------


def spec_ln(a, w, b, eps=1e-5):
    return w * (a - a.mean(-1, keepdims=True)) / np.sqrt(a.var(-1, keepdims=True) + eps) + b


def spec_run(model, v, p, layer_norm, mask, act, rec):
    """The spec's equations, one gate at a time, no lengths."""
    G = NUM_GATES[model]
    h = v["h0"]
    c = v.get("c0")
    ys = []
    for t in range(T):
        hm = h if mask is None else mask * h
        ax, ah = [], []
        for g in range(G):
            blk = slice(g * H, (g + 1) * H)
            px = v["x"][t] @ p["w_ih"][blk].T
            ph = hm @ p["w_hh"][blk].T
            if layer_norm:
                px = spec_ln(px, p["ln_ih_w"][blk], p["ln_ih_b"][blk])
                ph = spec_ln(ph, p["ln_hh_w"][blk], p["ln_hh_b"][blk])
            else:
                px = px + p.get("b_ih", np.zeros(G * H))[blk]
                ph = ph + p.get("b_hh", np.zeros(G * H))[blk]
            ax.append(px)
            ah.append(ph)
        if model == "lstm":
            i, f, o = (rec(ax[k] + ah[k]) for k in (0, 1, 3))
            c = f * c + i * act(ax[2] + ah[2])
            c_hat = spec_ln(c, p["ln_c_w"], p["ln_c_b"]) if layer_norm else c
            r = o * act(c_hat)
            h = r @ p["w_hr"].T if "w_hr" in p else r
        elif model == "gru":
            r, z = rec(ax[0] + ah[0]), rec(ax[1] + ah[1])
            h = (1 - z) * act(ax[2] + r * ah[2]) + z * h
        else:
            h = act(ax[0] + ah[0])
        ys.append(h)
    return [np.stack(ys), h] + ([c] if model == "lstm" else [])


@pytest.mark.parametrize("model,layer_norm", [("lstm", False), ("lstm", True),
                                              ("gru", False), ("gru", True), ("rnn", False)])
def test_forward_matches_spec_transcription(model, layer_norm):
    v, params, opts = draw(model, np.random.default_rng(7), layer_norm=layer_norm,
                           proj=model == "lstm", mask=True)
    named = {"lstm": ("elu", 0.7), "gru": ("leaky_relu", 0.1), "rnn": ("elu", None)}
    act_name, act_param = named[model]
    if model != "rnn":
        opts.update(layer_norm=layer_norm, recurrent_activation="hard_sigmoid")
    outs, _ = forward(model, v, params, activation=act_name, activation_param=act_param, **opts)
    alpha = 1.0 if act_param is None else act_param

    def act(a):
        if act_name == "elu":
            return np.where(a > 0, a, alpha * (np.exp(a) - 1))
        return np.where(a > 0, a, act_param * a)

    def rec(a):
        return np.minimum(np.maximum(0.2 * a + 0.5, 0), 1)

    want = spec_run(model, v, params, layer_norm, opts["rec_mask"], act, rec)
    for name, got, exp in zip(["y", "h_n", "c_n"], outs, want):
        assert_close(f"{model} {name}", got, exp, 1e-12)


def test_gru_update_gate_meets_the_unmasked_state():
    # a mask of zeros hides h from W_hh only: h' = (1 - z) n + z h still carries h
    v, params, _ = draw("gru", np.random.default_rng(3))
    zero = {"rec_mask": np.zeros((B, H))}
    (y, _), _ = forward("gru", v, params, **zero)
    (y_other, _), _ = forward("gru", dict(v, h0=v["h0"] + 1), params, **zero)
    ax = v["x"][0] @ params["w_ih"].T + params["b_ih"]
    z = sigmoid(ax[:, H:2 * H] + params["b_hh"][H:2 * H])
    assert_close("y[0] shift", y_other[0] - y[0], z * 1.0, 1e-12)


# ---------------------------------------------------------------------------
# Defaults = the plain reference (= PyTorch)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("lengths", [None, MIXED], ids=["full", "mixed"])
@pytest.mark.parametrize("model,nonlin", [("lstm", "tanh"), ("gru", "tanh"),
                                          ("rnn", "tanh"), ("rnn", "relu")])
def test_defaults_equal_plain_reference(model, nonlin, lengths):
    v, params, _ = draw(model, np.random.default_rng(11))
    weights = [params[k] for k in ("w_ih", "w_hh", "b_ih", "b_hh")]
    states = [v[n] for n in state_names(model)]
    opts = {"activation": "relu"} if nonlin == "relu" else {}
    outs, cache = forward(model, v, params, lengths, **opts)
    if model == "lstm":
        *plain_outs, plain_cache = lstm_forward(v["x"], *states, *weights, lengths=lengths)
    elif model == "gru":
        *plain_outs, plain_cache = gru_forward(v["x"], *states, *weights, lengths=lengths)
    else:
        *plain_outs, plain_cache = rnn_forward(v["x"], *states, *weights, lengths=lengths,
                                               nonlinearity=nonlin)
    for name, got, want in zip(["y", "h_n", "c_n"], outs, plain_outs):
        assert_close(f"{model} {name}", got, want, 1e-12)

    rng = np.random.default_rng(12)
    douts = [rng.standard_normal(o.shape) for o in outs]
    dinputs, dparams = backward(model, douts, cache)
    plain = {"lstm": lstm_backward, "gru": gru_backward, "rnn": rnn_backward}[model]
    plain_grads = plain(*douts, plain_cache)
    names = ["x"] + state_names(model) + ["w_ih", "w_hh", "b_ih", "b_hh"]
    got_all = {**dinputs, **dparams}
    for name, want in zip(names, plain_grads):
        assert_close(f"{model} d{name}", got_all[name], want, 1e-12)


def test_missing_biases_equal_zero_biases():
    v, params, _ = draw("lstm", np.random.default_rng(13), proj=True, biases=())
    zeros = dict(params, b_ih=np.zeros(4 * H), b_hh=np.zeros(4 * H))
    outs, cache = forward("lstm", v, params, MIXED)
    outs0, cache0 = forward("lstm", v, zeros, MIXED)
    for a, b in zip(outs, outs0):
        np.testing.assert_array_equal(a, b)
    douts = [np.ones(o.shape) for o in outs]
    (dins, dps), (dins0, dps0) = backward("lstm", douts, cache), backward("lstm", douts, cache0)
    assert sorted(dps) == ["w_hh", "w_hr", "w_ih"]
    for k in dps:
        np.testing.assert_array_equal(dps[k], dps0[k])
    for k in dins:
        np.testing.assert_array_equal(dins[k], dins0[k])


def test_all_ones_mask_equals_no_mask():
    for model in ["lstm", "gru", "rnn"]:
        v, params, _ = draw(model, np.random.default_rng(14))
        outs, cache = forward(model, v, params, MIXED)
        outs1, cache1 = forward(model, v, params, MIXED, rec_mask=np.ones((B, H)))
        for a, b in zip(outs, outs1):
            np.testing.assert_array_equal(a, b)
        douts = [np.ones(o.shape) for o in outs]
        for a, b in zip(backward(model, douts, cache), backward(model, douts, cache1)):
            for k in a:
                np.testing.assert_array_equal(a[k], b[k], err_msg=f"{model} d{k}")


# ---------------------------------------------------------------------------
# Lengths, None arguments, dtypes, inputs left alone
# ---------------------------------------------------------------------------


FULL_OPTIONS = {
    "lstm": dict(layer_norm=True, proj=True, mask=True),
    "gru": dict(layer_norm=True, mask=True),
    "rnn": dict(mask=True),
}


def full_case(model, seed, dtype=np.float64):
    v, params, opts = draw(model, np.random.default_rng(seed), **FULL_OPTIONS[model])
    if model != "rnn":
        opts.update(layer_norm=FULL_OPTIONS[model]["layer_norm"],
                    recurrent_activation="hard_sigmoid")
    opts["activation"] = "elu"
    cast = lambda d: {k: a.astype(dtype) for k, a in d.items()}
    opts = {k: (a.astype(dtype) if isinstance(a, np.ndarray) else a) for k, a in opts.items()}
    return cast(v), cast(params), opts


@pytest.mark.parametrize("model", ["lstm", "gru", "rnn"])
def test_lengths_finals_equal_truncated_runs_and_outputs_past_end_are_zero(model):
    v, params, opts = full_case(model, 15)
    outs, _ = forward(model, v, params, MIXED, **opts)
    y, finals = outs[0], outs[1:]
    for b, n in enumerate(MIXED):
        assert np.all(y[n:, b] == 0), f"{model}: y[{n}:, {b}] is not zero"
        alone = {"x": v["x"][:n, b:b + 1], **{s: v[s][b:b + 1] for s in state_names(model)}}
        alone_opts = dict(opts, rec_mask=opts["rec_mask"][b:b + 1])
        outs_b, _ = forward(model, alone, params, None, **alone_opts)
        assert_close(f"{model} y[:{n}, {b}]", y[:n, b:b + 1], outs_b[0], 1e-13)
        for name, final, final_b in zip(["h_n", "c_n"], finals, outs_b[1:]):
            assert_close(f"{model} {name}[{b}]", final[b:b + 1], final_b, 1e-13)


@pytest.mark.parametrize("model", ["lstm", "gru", "rnn"])
def test_none_states_and_gradients_mean_zeros(model):
    v, params, opts = full_case(model, 16)
    zeros = dict(v, **{s: np.zeros_like(v[s]) for s in state_names(model)})
    nones = dict(v, **{s: None for s in state_names(model)})
    outs_z, cache_z = forward(model, zeros, params, MIXED, **opts)
    outs_n, cache_n = forward(model, nones, params, MIXED, **opts)
    for a, b in zip(outs_z, outs_n):
        np.testing.assert_array_equal(a, b)
    dy = np.random.default_rng(3).standard_normal(outs_z[0].shape)
    with_zeros = backward(model, [dy] + [np.zeros_like(o) for o in outs_z[1:]], cache_z)
    with_nones = backward(model, [dy] + [None] * (len(outs_z) - 1), cache_n)
    for a, b in zip(with_zeros, with_nones):
        for k in a:
            np.testing.assert_array_equal(a[k], b[k], err_msg=f"{model} d{k}")
    for part in backward(model, [None] * len(outs_z), cache_n):
        assert not any(np.any(g) for g in part.values())


@pytest.mark.parametrize("model", ["lstm", "gru", "rnn"])
def test_float32_in_float32_out(model):
    v64, p64, o64 = full_case(model, 17)
    v32, p32, o32 = full_case(model, 17, np.float32)
    outs32, cache32 = forward(model, v32, p32, MIXED, **o32)
    outs64, _ = forward(model, v64, p64, MIXED, **o64)
    for name, a, b in zip(["y", "h_n", "c_n"], outs32, outs64):
        assert a.dtype == np.float32, f"{model}: {name} is {a.dtype}"
        assert_close(f"{model} {name} float32", a, b, 1e-5)
    dinputs, dparams = backward(model, [np.ones(o.shape, np.float32) for o in outs32], cache32)
    for name, g in {**dinputs, **dparams}.items():
        assert g.dtype == np.float32, f"{model}: d{name} is {g.dtype}"


@pytest.mark.parametrize("model", ["lstm", "gru", "rnn"])
def test_backward_leaves_inputs_and_cache_alone(model):
    v, params, opts = full_case(model, 18)
    originals = {k: a.copy() for k, a in {**v, **params}.items()}
    outs, cache = forward(model, v, params, MIXED, **opts)
    douts = [np.random.default_rng(1).standard_normal(o.shape) for o in outs]
    douts_copy = [d.copy() for d in douts]
    first = backward(model, douts, cache)
    second = backward(model, douts, cache)
    for d, d0 in zip(douts, douts_copy):
        np.testing.assert_array_equal(d, d0)
    for k, a in {**v, **params}.items():
        np.testing.assert_array_equal(a, originals[k], err_msg=k)
    for a, b in zip(first, second):
        for k in a:
            np.testing.assert_array_equal(a[k], b[k], err_msg=f"{model} d{k}")


# ---------------------------------------------------------------------------
# Bad options and inputs
# ---------------------------------------------------------------------------


def _lstm_call(**change):
    """lstm_forward_ex on a valid projected case, with ``change`` applied
    (keys "params" and "h0" replace those arguments, the rest are options)."""
    v, params, _ = draw("lstm", np.random.default_rng(19), proj=True)
    change = dict(change)
    params = change.pop("params", params)
    h0 = change.pop("h0", v["h0"])
    return lstm_forward_ex(v["x"], h0, v["c0"], params, **change)


@pytest.mark.parametrize("change,message", [
    ({"activation": "softplus"}, "activation must be one of"),
    ({"activation": "hard_sigmoid"}, "activation must be one of"),
    ({"recurrent_activation": "tanh"}, "recurrent_activation must be one of"),
    ({"activation": "leaky_relu", "activation_param": -0.1}, "activation_param"),
    ({"activation": "elu", "activation_param": float("nan")}, "activation_param"),
    ({"layer_norm": True}, "unexpected keys"),
    ({"layer_norm": True, "params": {"w_ih": np.zeros((4 * H, I)),
                                     "w_hh": np.zeros((4 * H, H))}}, "miss"),
    ({"rec_mask": np.ones((B, H))}, "rec_mask must have shape"),
    ({"h0": np.zeros((B, H))}, "h0 must have shape"),
    ({"eps": 0.0}, "eps"),
])
def test_bad_lstm_options_are_rejected(change, message):
    with pytest.raises(ValueError, match=message):
        _lstm_call(**change)


def test_bad_params_are_rejected():
    v, params, _ = draw("gru", np.random.default_rng(20), layer_norm=True)
    with pytest.raises(ValueError, match="unexpected keys"):
        gru_forward_ex(v["x"], v["h0"], dict(params, b_ih=np.zeros(3 * H)), layer_norm=True)
    with pytest.raises(ValueError, match="unexpected keys"):
        gru_forward_ex(v["x"], v["h0"], params)           # LN params without layer_norm
    with pytest.raises(ValueError, match="unexpected keys"):
        gru_forward_ex(v["x"], v["h0"], dict(params, w_hr=np.zeros((2, H))), layer_norm=True)
    with pytest.raises(ValueError, match="ln_hh_w must have shape"):
        gru_forward_ex(v["x"], v["h0"], dict(params, ln_hh_w=np.ones(H)), layer_norm=True)
    with pytest.raises(ValueError, match="lengths"):
        gru_forward_ex(v["x"], v["h0"], params, np.array([0, 1, 2]), layer_norm=True)


# ---------------------------------------------------------------------------
# Activations and layer norm pieces
# ---------------------------------------------------------------------------


def test_new_activations_values_and_derivatives_from_output():
    x = np.linspace(-4, 4, 17) + 0.05        # away from 0 and +-2.5
    cases = [
        (lambda a: leaky_relu(a), lambda y: leaky_relu_grad_from_output(y),
         np.where(x > 0, x, 0.01 * x)),
        (lambda a: leaky_relu(a, 0.3), lambda y: leaky_relu_grad_from_output(y, 0.3),
         np.where(x > 0, x, 0.3 * x)),
        (lambda a: elu(a), lambda y: elu_grad_from_output(y), np.where(x > 0, x, np.exp(x) - 1)),
        (lambda a: elu(a, 0.5), lambda y: elu_grad_from_output(y, 0.5),
         np.where(x > 0, x, 0.5 * (np.exp(x) - 1))),
        (hard_sigmoid, hard_sigmoid_grad_from_output, np.clip(0.2 * x + 0.5, 0, 1)),
    ]
    for f, df, want in cases:
        np.testing.assert_allclose(f(x), want, rtol=1e-14, atol=1e-15)
        numeric = (f(x + EPS) - f(x - EPS)) / (2 * EPS)
        np.testing.assert_allclose(df(f(x)), numeric, rtol=1e-7, atol=1e-9)
    # at the kinks: left derivative at 0; 0 at both corners of hard_sigmoid
    assert leaky_relu_grad_from_output(leaky_relu(np.zeros(1)))[0] == 0.01
    assert elu_grad_from_output(elu(np.zeros(1), 0.5), 0.5)[0] == 0.5
    assert np.all(hard_sigmoid_grad_from_output(hard_sigmoid(np.array([-2.5, 2.5]))) == 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_new_activations_keep_dtype_and_do_not_overflow(dtype):
    x = np.array([-1e4, -50, -1, 0, 1, 50, 1e4], dtype=dtype)
    with np.errstate(over="raise", invalid="raise"):
        outs = [leaky_relu(x), elu(x), hard_sigmoid(x),
                leaky_relu_grad_from_output(leaky_relu(x)), elu_grad_from_output(elu(x)),
                hard_sigmoid_grad_from_output(hard_sigmoid(x))]
    for out in outs:
        assert out.dtype == dtype and np.all(np.isfinite(out))
    for f in (tanh, relu, sigmoid):                   # the old names still work
        assert f(x).dtype == dtype


def test_layer_norm_gradients_by_finite_differences():
    rng = np.random.default_rng(21)
    a, w, b = rng.standard_normal((4, 6)), rng.uniform(0.5, 1.5, 6), rng.standard_normal(6)
    dout = rng.standard_normal((4, 6))
    out, cache = layer_norm_forward(a, w, b)
    da, dw, db = layer_norm_backward(dout, cache, w)
    for name, arr, analytic in [("a", a, da), ("w", w, dw), ("b", b, db)]:
        numeric = np.zeros_like(arr)
        for idx in np.ndindex(arr.shape):
            vals = []
            for delta in (EPS, -EPS):
                shifted = {"a": a, "w": w, "b": b}
                shifted[name] = arr.copy()
                shifted[name][idx] += delta
                out_, _ = layer_norm_forward(shifted["a"], shifted["w"], shifted["b"])
                vals.append(np.sum(out_ * dout))
            numeric[idx] = (vals[0] - vals[1]) / (2 * EPS)
        assert_close(f"layer norm d{name}", analytic, numeric, 1e-7)


def test_layer_norm_matches_torch():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(22)
    G = 4
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
# Parity with torch.nn.LSTM(proj_size=P)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("lengths", [None, MIXED], ids=["full", "packed"])
def test_lstm_projection_matches_torch(lengths):
    torch = pytest.importorskip("torch")
    v, params, _ = draw("lstm", np.random.default_rng(23), proj=True)
    module = torch.nn.LSTM(I, H, proj_size=P).double()
    names = {"w_ih": "weight_ih_l0", "w_hh": "weight_hh_l0", "b_ih": "bias_ih_l0",
             "b_hh": "bias_hh_l0", "w_hr": "weight_hr_l0"}
    with torch.no_grad():
        for ours, theirs in names.items():
            getattr(module, theirs).copy_(torch.from_numpy(params[ours]))
    x = torch.from_numpy(v["x"]).requires_grad_()
    h0 = torch.from_numpy(v["h0"][None]).requires_grad_()
    c0 = torch.from_numpy(v["c0"][None]).requires_grad_()
    if lengths is None:
        ty, (th, tc) = module(x, (h0, c0))
    else:
        packed = torch.nn.utils.rnn.pack_padded_sequence(
            x, torch.as_tensor(lengths), enforce_sorted=False)
        ty, (th, tc) = module(packed, (h0, c0))
        ty, _ = torch.nn.utils.rnn.pad_packed_sequence(ty, total_length=T)
    t_outs = [ty, th[0], tc[0]]
    rng = np.random.default_rng(24)
    douts = [rng.standard_normal(tuple(o.shape)) for o in t_outs]
    sum((o * torch.from_numpy(d)).sum() for o, d in zip(t_outs, douts)).backward()

    outs, cache = forward("lstm", v, params, lengths)
    dinputs, dparams = backward("lstm", douts, cache)
    for name, got, want in zip(["y", "h_n", "c_n"], outs, t_outs):
        assert_close(f"proj {name}", got, want.detach().numpy(), 1e-10)
    for name, got, want in [("x", dinputs["x"], x.grad), ("h0", dinputs["h0"], h0.grad[0]),
                            ("c0", dinputs["c0"], c0.grad[0])]:
        assert_close(f"proj d{name}", got, want.numpy(), 1e-10)
    for ours, theirs in names.items():
        assert_close(f"proj d{ours}", dparams[ours], getattr(module, theirs).grad.numpy(), 1e-10)
