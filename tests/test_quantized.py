"""Quantized inference (int8, bfloat16): the NumPy reference's own arithmetic, the native
products held equal to it on both of the binding's paths, the quantized layers, cells and
Linear against the reference, against float32, and as models, checkpoints and commands."""

import contextlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import lstmx
from lstmx import _core
from lstmx import reference as ref
from lstmx.charlm import CharLM, CharVocab, sample
from lstmx.cli import main
from lstmx.nn import GRU, LSTM, RNN, GRUCell, Linear, LSTMCell, RNNCell, SequenceModel
from lstmx.nn.quantized import quantized_dtype
from lstmx.nn.recurrent import gather_time, reverse_index
from lstmx.reference.quantized import (bfloat16_matmul, bfloat16_to_float32, int8_matmul,
                                       quantize, quantize_int8, quantized_linear,
                                       quantized_matmul, to_bfloat16)
from lstmx.seq2seq import Seq2Seq
from lstmx.train.checkpoint import load_checkpoint, load_model, save_checkpoint

from conftest import reference_params

DTYPES = ("int8", "bfloat16")

# Quantized layers and cells against the reference with quantized products. Both quantize
# the same float32 activations, but the native gate math (its exp and tanh, fused
# multiply-adds) rounds differently in the last bits; where an activation times 127/amax
# falls within that of a rounding boundary, one quantum flips: |w| · amax / 127 on a
# pre-activation, about 0.25 · 1 / 127 = 2e-3 for these weights (U(±1/√H), H = 16) and
# states in [-1, 1]; bfloat16's step (2^-8 relative) flips alike. Such flips are rare;
# everything else agrees to float32 rounding.
ATOL = 2e-3
# Quantized against float32: a few 1e-3 here, 5e-2 allowed (torch's dynamic int8 LSTM
# differs by up to 2-3e-2). A layer-normalised LSTM with unit gains amplifies any change of
# its weights from step to step: weights moved by half an int8 step at random move its
# float64 outputs by 5e-2 after 7 steps (1e-3 without layer norm); there only the first step
# is held to float32 (the rest to the reference).
FLOAT_ATOL = 0.05


@contextlib.contextmanager
def quantized_path(name):
    """Run the native quantized products on path ``name``: "portable", "avx512" (VNNI or
    BF16, no AMX) or "auto" (the CPU's best: AMX tiles for int8 where present). A path the
    CPU lacks falls back to the next one, so every name runs everywhere."""
    previous = _core.set_quantized_path(name)
    try:
        yield
    finally:
        _core.set_quantized_path(previous)


def f32(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


def assert_within(name, got, want, atol):
    diff = np.abs(np.asarray(got, np.float64) - np.asarray(want, np.float64))
    assert got.shape == want.shape, f"{name}: shape {got.shape}, expected {want.shape}"
    if diff.size and diff.max() > atol:
        i = np.unravel_index(np.argmax(diff), diff.shape)
        raise AssertionError(f"{name}{list(i)}: expected {want[i]!r}, got {got[i]!r} "
                             f"(|diff| {diff.max():.2e} > {atol:g})")


# -- the reference's own arithmetic --------------------------------------------------------

def test_int8_rows_round_trip_within_half_a_step(rng):
    v = f32(rng, 7, 33) * np.logspace(-3, 3, 7, dtype=np.float32)[:, None]
    v[3] = 0
    q, scale = quantize_int8(v)
    assert q.dtype == np.int8 and scale.dtype == np.float32 and scale.shape == (7,)
    assert scale[3] == 0 and not q[3].any()
    nonzero = np.arange(7) != 3
    assert (np.abs(q[nonzero]).max(axis=1) == 127).all()  # the largest entry maps to ±127
    err = np.abs(q * scale[:, None].astype(np.float64) - v)
    assert (err <= 0.5 * scale[:, None] * (1 + 1e-5)).all()


def test_int8_rounds_half_to_even():
    # amax = 127 makes 127 / amax exactly 1: v * inv is v itself
    q, scale = quantize_int8(np.array([[127, 0.5, 1.5, 2.5, -0.5, -2.5, 3.5]], np.float32))
    assert q.tolist() == [[127, 0, 2, 2, 0, -2, 4]] and scale[0] == 1


def test_int8_refuses_non_finite_rows():
    v = np.ones((3, 4), np.float32)
    v[2, 1] = np.inf
    with pytest.raises(ValueError, match="row 2 holds inf"):
        quantize_int8(v)


def test_int8_product_is_the_exact_integer_sum_dequantized(rng):
    x, w = f32(rng, 5, 300), f32(rng, 6, 300)
    (xq, xs), (wq, ws) = quantize_int8(x), quantize_int8(w)
    exact = xq.astype(np.float64) @ wq.astype(np.float64).T  # < 2^53: exact in float64
    y = int8_matmul(xq, xs, wq, ws)
    assert y.dtype == np.float32
    assert np.array_equal(y, exact.astype(np.float32) * (xs[:, None] * ws[None, :]))
    assert_within("int8 product vs float", y, x @ w.T, 0.02 * np.abs(x @ w.T).max())


BF16_CASES = [  # float32 bit pattern -> bfloat16 bit pattern
    (0x3F800000, 0x3F80),  # 1.0
    (0x3F808000, 0x3F80),  # 1 + 2^-8: a tie, to the even 1.0
    (0x3F818000, 0x3F82),  # 1 + 3·2^-8: a tie, to the even 1 + 2^-6
    (0x3F808001, 0x3F81),  # just above the tie: up
    (0x3F807FFF, 0x3F80),  # just below: down
    (0xBF818000, 0xBF82),  # negative ties alike
    (0x7F7FFFFF, 0x7F80),  # the largest float32 rounds up to inf
    (0x7F800000, 0x7F80),  # inf
    (0xFF800000, 0xFF80),  # -inf
    (0x7FC00000, 0x7FC0),  # quiet NaN
    (0x7F800001, 0x7FC0),  # signalling NaN whose payload is all in the dropped bits: quiet
    (0xFFA10000, 0xFFE1),  # a negative NaN keeps its sign and upper payload
    (0x00000001, 0x0000),  # subnormals flush to zero
    (0x807FFFFF, 0x8000),  # ... of their sign
    (0x80000000, 0x8000),  # -0
    (0x00800000, 0x0080),  # the smallest normal stays
]


def test_bfloat16_rounding_cases():
    bits = np.array([b for b, _ in BF16_CASES], np.uint32)
    got = to_bfloat16(bits.view(np.float32))
    want = np.array([w for _, w in BF16_CASES], np.uint16)
    bad = np.flatnonzero(got != want)
    assert not bad.size, [f"{bits[i]:#010x} -> {got[i]:#06x}, expected {want[i]:#06x}"
                          for i in bad]
    back = bfloat16_to_float32(want)
    assert back.dtype == np.float32 and np.array_equal(back.view(np.uint32),
                                                       want.astype(np.uint32) << 16)


def test_bfloat16_product_adds_each_pair_odd_first_and_flushes_subnormals():
    w = to_bfloat16(np.ones((1, 4), np.float32))
    # odd first: 2^25, then + 1 is lost, then - 2^25, then + 1: 1 (even first would give 0)
    x = to_bfloat16(np.array([[1, 2.0 ** 25, 1, -2.0 ** 25]], np.float32))
    assert bfloat16_matmul(x, w)[0, 0] == 1
    # 2^-70 · 2^-70 is a subnormal float32: flushed, its sign kept
    tiny = to_bfloat16(np.array([[2.0 ** -70], [-(2.0 ** -70)]], np.float32))
    y = bfloat16_matmul(tiny, to_bfloat16(np.array([[2.0 ** -70]], np.float32)))
    assert (y == 0).all() and np.signbit(y[:, 0]).tolist() == [False, True]


def test_the_float_matmul_hook_is_the_plain_forward_and_has_no_backward(rng):
    p = {"w_ih": f32(rng, 8, 3), "w_hh": f32(rng, 8, 2), "w_hr": f32(rng, 2, 2)}
    x = f32(rng, 4, 3, 3)
    plain = ref.lstm_forward(x, None, None, p)
    hooked = ref.lstm_forward(x, None, None, p, matmul=lambda inp, w: inp @ w.T)
    for a, b in zip(plain[:3], hooked[:3]):
        assert np.array_equal(a, b)
    with pytest.raises(ValueError, match="no backward"):
        ref.lstm_backward(None, None, None, hooked[3])


# -- native products against the reference ------------------------------------------------

PATHS = ["portable", "avx512", "auto"]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("M,N,K", [(1, 1, 1), (3, 5, 7), (1, 64, 64), (17, 33, 301), (2, 150, 40),
                                   (50, 70, 130)])
def test_native_product_equals_the_reference_exactly(rng, dtype, path, M, N, K):
    x, w, bias = f32(rng, M, K), f32(rng, N, K), f32(rng, N)
    x[0, 0] = 0  # and a row of zeros when there is room for one
    if M > 2:
        x[1] = 0
    qw = quantize(w, dtype)
    matrix = _core.QuantizedMatrix(qw.data, qw.scale)
    assert (matrix.kind, matrix.shape, matrix.gates) == (dtype, (N, K), 0)
    with quantized_path(path):
        got = _core.quantized_linear(x, matrix)
        got_bias = _core.quantized_linear(x, matrix, bias)
    want = quantized_linear(x, qw)
    assert got.dtype == np.float32 and np.array_equal(got, want), (
        f"{dtype} {path}: max |diff| {np.abs(got - want).max():.3e}")
    # the bias add may be fused with the dequantization (one rounding instead of two)
    bound = 2 * np.spacing(np.abs(want) + np.abs(bias))
    assert (np.abs(got_bias - (want + bias)) <= bound).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("B", [3, 20])  # 20: whole blocks of 16 rows on the AMX tiles
def test_every_path_agrees_bit_for_bit_in_a_layer(rng, dtype, B):
    lstm = LSTM(12, 40, num_layers=2, bidirectional=True, seed=1)
    q = lstmx.quantize(lstm, dtype)
    x = f32(rng, 6, B, 12)
    lengths = rng.integers(1, 7, B)
    outs = []
    for path in PATHS:
        with quantized_path(path):
            y, (h, c) = q(x, lengths=lengths)
        outs.append((y, h, c))
    for other in outs[1:]:
        assert all(np.array_equal(a, b) for a, b in zip(outs[0], other))


@pytest.mark.parametrize("path", PATHS)
def test_a_non_finite_input_row_gives_nan_products(rng, path):
    x, w = f32(rng, 20, 33), f32(rng, 18, 33)
    x[3, 5], x[17, 0] = np.nan, -np.inf
    qw = quantize(w, "int8")
    with quantized_path(path):
        got = _core.quantized_linear(x, _core.QuantizedMatrix(qw.data, qw.scale))
    want = quantized_linear(x, qw)
    assert np.isnan(got[[3, 17]]).all() and np.isnan(want[[3, 17]]).all()
    keep = np.setdiff1d(np.arange(20), [3, 17])
    assert np.array_equal(got[keep], want[keep])


def test_quantized_matrix_refuses_what_it_cannot_pack():
    w = np.zeros((8, 4), np.int8)
    with pytest.raises((TypeError, ValueError)):
        _core.QuantizedMatrix(w.astype(np.float32), np.ones(8, np.float32))
    with pytest.raises((TypeError, ValueError)):
        _core.QuantizedMatrix(w, np.ones(7, np.float32))
    with pytest.raises((TypeError, ValueError)):
        _core.QuantizedMatrix(w, np.ones(8, np.float32), gates=3)  # 8 rows are not 3·H


# -- layers and cells against the reference and float32 ----------------------------------

def reference_stack(layer, x, lengths, dtype):
    """What ``quantize(layer, dtype)`` computes, by the reference: each layer and direction
    of the float ``layer`` through ``lstmx.reference`` with quantized products. x time-major;
    returns (y, [final states of each layer and direction])."""
    kind = "lstm" if isinstance(layer, LSTM) else "gru" if isinstance(layer, GRU) else "rnn"
    forward = getattr(ref, kind + "_forward")
    opts = dict(activation=layer.activation, activation_param=layer.activation_param,
                matmul=quantized_matmul(dtype))
    if kind != "rnn":
        opts |= dict(recurrent_activation=layer.recurrent_activation,
                     layer_norm=layer.layer_norm)
    T, B = x.shape[:2]
    rev = reverse_index(T, B, lengths)
    inp, finals = x, []
    for l in range(layer.num_layers):
        outs = []
        for d in range(layer.num_directions):
            xd = inp if d == 0 else gather_time(inp, rev)
            p = reference_params(layer, f"_l{l}" + ("_reverse" if d else ""))
            out = forward(xd, *[None] * (2 if kind == "lstm" else 1), p, lengths, **opts)
            outs.append(out[0] if d == 0 else gather_time(out[0], rev))
            finals.append(out[1:-1])
        inp = np.concatenate(outs, axis=2)
    return inp, finals


LAYERS = {
    "lstm": (LSTM, {}),
    "lstm-bi-2-layers": (LSTM, dict(num_layers=2, bidirectional=True)),
    "lstm-layer_norm": (LSTM, dict(layer_norm=True)),
    "lstm-proj-bi": (LSTM, dict(proj_size=5, bidirectional=True)),
    "lstm-no_bias-hard_sigmoid": (LSTM, dict(bias=False, recurrent_activation="hard_sigmoid")),
    "gru-bi-2-layers": (GRU, dict(num_layers=2, bidirectional=True)),
    "gru-layer_norm": (GRU, dict(layer_norm=True)),
    "rnn-relu-bi": (RNN, dict(nonlinearity="relu", bidirectional=True)),
    "rnn-2-layers": (RNN, dict(num_layers=2)),
}
SHAPES = [(7, 4, [7, 3, 1, 5]), (1, 1, None), (5, 1, [5]), (4, 3, None)]  # T, B, lengths


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", sorted(LAYERS))
def test_layer_equals_the_reference_and_stays_near_float32(rng, case, dtype):
    cls, options = LAYERS[case]
    layer = cls(6, 16, seed=2, **options).eval()
    q = lstmx.quantize(layer, dtype)
    assert isinstance(q, cls) and quantized_dtype(q) == dtype
    for T, B, lengths in SHAPES:
        x = f32(rng, T, B, 6)
        lengths = None if lengths is None else np.array(lengths)
        y, state = q(x, None, lengths)
        y_ref, finals = reference_stack(layer, x, lengths, dtype)
        label = f"{case} {dtype} T={T} B={B}"
        assert y.dtype == np.float32
        assert_within(f"{label} y", y, y_ref, ATOL)
        states = state if isinstance(layer, LSTM) else (state,)
        for s, name in zip(states, "hc"):
            assert_within(f"{label} {name}_n", s, np.stack([f[len(name) - 1 if name == "h"
                                                               else 1] for f in finals]), ATOL)
        y_float, _ = layer(x, None, lengths)
        steps = 1 if layer.layer_norm else T
        assert_within(f"{label} y vs float32", y[:steps], y_float[:steps], FLOAT_ATOL)


def test_batch_first_and_initial_states_as_the_float_layer(rng):
    layer = LSTM(5, 8, batch_first=True, num_layers=2, seed=0).eval()
    q = lstmx.quantize(layer, "int8")
    x, h0, c0 = f32(rng, 3, 4, 5), 0.5 * f32(rng, 2, 3, 8), 0.5 * f32(rng, 2, 3, 8)
    y, (h, c) = q(x, (h0, c0), np.array([4, 1, 2]))
    y_float, (h_float, c_float) = layer(x, (h0, c0), np.array([4, 1, 2]))
    assert y.shape == (3, 4, 8) and h.shape == c.shape == (2, 3, 8)
    assert_within("y", y, y_float, 0.03)
    assert_within("c_n", c, c_float, 0.03)
    assert (y[1, 1:] == 0).all()  # past a sequence's end: zeros, as the float layer


CELLS = {"lstm": (LSTMCell, {}), "lstm-layer_norm": (LSTMCell, dict(layer_norm=True)),
         "gru": (GRUCell, {}), "gru-layer_norm": (GRUCell, dict(layer_norm=True)),
         "rnn-relu": (RNNCell, dict(nonlinearity="relu"))}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", sorted(CELLS))
def test_cell_step_equals_the_reference(rng, case, dtype):
    cls, options = CELLS[case]
    cell = cls(6, 16, seed=3, **options).eval()
    q = lstmx.quantize(cell, dtype)
    assert isinstance(q, cls)
    kind = "lstm" if cls is LSTMCell else "gru" if cls is GRUCell else "rnn"
    x, h = f32(rng, 3, 6), 0.5 * f32(rng, 3, 16)
    kw = dict(activation=cell.activation, activation_param=cell.activation_param,
              matmul=quantized_matmul(dtype))
    if kind != "rnn":
        kw |= dict(recurrent_activation=cell.recurrent_activation, layer_norm=cell.layer_norm)
    p = reference_params(cell, "")
    if kind == "lstm":
        c = 0.5 * f32(rng, 3, 16)
        got = q(x, (h, c))
        want = ref.lstm_forward(x[None], h, c, p, **kw)[1:3]
    else:
        got = (q(x, h),)
        want = getattr(ref, kind + "_forward")(x[None], h, p, **kw)[1:2]
    for name, g, w in zip("hc", got, want):
        assert_within(f"{case} {dtype} {name}", g, w, ATOL)


@pytest.mark.parametrize("dtype", DTYPES)
def test_linear_over_leading_axes(rng, dtype):
    lin = Linear(10, 7, seed=0)
    q = lstmx.quantize(lin, dtype)
    x = f32(rng, 2, 3, 10)
    y = q(x)
    want = quantized_linear(x.reshape(6, 10), quantize(lin.weight.data, dtype),
                            lin.bias.data).reshape(2, 3, 7)
    assert_within("y", y, want, 1e-6)
    assert np.array_equal(q.project(x), y)
    assert_within("y vs float32", y, lin.eval()(x), 0.03)


# -- what a quantized module is, and what it refuses ---------------------------------------

def test_weights_are_named_like_the_float_parameters():
    lstm = LSTM(4, 8, proj_size=3, bidirectional=True, seed=0)
    q8, q16 = lstmx.quantize(lstm, "int8"), lstmx.quantize(lstm, "bfloat16")
    s8, s16 = q8.state_dict(), q16.state_dict()
    assert list(s16) == list(lstm.state_dict())
    assert [n for n in s8 if "_scale" not in n] == list(lstm.state_dict())
    for name, w in lstm.state_dict().items():
        if name.startswith("weight"):
            stem, sfx = name.split("_l", 1)
            q, scale = quantize_int8(w)
            assert np.array_equal(s8[name], q) and np.array_equal(s8[f"{stem}_scale_l{sfx}"],
                                                                  scale)
            assert np.array_equal(s16[name], to_bfloat16(w))
        else:
            assert np.array_equal(s8[name], w) and np.array_equal(s16[name], w)
    assert "quantization='int8'" in repr(q8)


def test_the_original_is_untouched_and_still_trains(rng):
    lstm = LSTM(4, 8, seed=0)
    before = lstm.state_dict()
    q = lstmx.quantize(lstm, "int8")
    assert lstm.training and type(lstm) is LSTM and not q.training
    assert all(np.array_equal(before[k], v) for k, v in lstm.state_dict().items())
    y, _ = lstm(f32(rng, 3, 2, 4))
    lstm.backward(np.ones_like(y))


@pytest.mark.parametrize("make", [lambda: LSTM(4, 8, seed=0), lambda: GRUCell(4, 8, seed=0),
                                  lambda: Linear(4, 8, seed=0)])
def test_backward_and_training_are_refused(make, rng):
    q = lstmx.quantize(make(), "bfloat16")
    with pytest.raises(RuntimeError, match="quantized to bfloat16 for inference only; "
                                           "backward and training need the float32 model"):
        q.backward(np.zeros((3, 2, 8), np.float32))
    with pytest.raises(RuntimeError, match="for inference only"):
        q.train()
    with pytest.raises(RuntimeError, match="for inference only"):
        q.reset_parameters(0)
    assert not q.training


def test_quantize_refuses_what_it_cannot_quantize():
    lstm = LSTM(4, 8, seed=0)
    with pytest.raises(ValueError, match="must be one of 'int8', 'bfloat16', got 'fp16'"):
        lstmx.quantize(lstm, "fp16")
    with pytest.raises(ValueError, match=r"float32 models; the model \(GRU\) is float64"):
        lstmx.quantize(GRU(4, 8, dtype=np.float64), "int8")
    with pytest.raises(ValueError, match=r"float32 models; rnn \(LSTM\) is float64"):
        lstmx.quantize(SequenceModel({"cell": "lstm", "input_size": 3, "hidden_size": 4,
                                      "dtype": "float64"}), "int8")
    with pytest.raises(ValueError, match="already quantized"):
        lstmx.quantize(lstmx.quantize(lstm, "int8"), "bfloat16")
    with pytest.raises(ValueError, match="no Linear, LSTM"):
        lstmx.quantize(lstmx.nn.Embedding(5, 3), "int8")
    with pytest.raises(TypeError):
        lstmx.quantize(np.zeros(3), "int8")
    lstm.weight_hh_l0.data[2, 1] = np.nan
    for dtype in DTYPES:
        with pytest.raises(ValueError, match="cannot quantize weight_hh_l0: .*non-finite"):
            lstmx.quantize(lstm, dtype)


def test_float_values_do_not_load_into_quantized_weights():
    lstm = LSTM(4, 8, seed=0)
    q = lstmx.quantize(lstm, "int8")
    with pytest.raises(ValueError, match="weight_ih_l0 holds quantized int8 values, got "
                                         "float32"):
        q.load_state_dict(lstm.state_dict(), strict=False)


def test_a_loaded_state_repacks_the_weights(rng):
    a, b = LSTM(4, 8, seed=0), LSTM(4, 8, seed=1)
    qa, qb = lstmx.quantize(a, "int8"), lstmx.quantize(b, "int8")
    x = f32(rng, 3, 2, 4)
    qa(x)  # packs a's weights
    qa.load_state_dict(qb.state_dict())
    assert np.array_equal(qa(x)[0], qb(x)[0])


# -- models ---------------------------------------------------------------------------------

PAIRS = [("I am cold.", "J'ai froid."), ("I am hot.", "J'ai chaud."),
         ("The cat sleeps.", "Le chat dort."), ("The dog eats.", "Le chien mange."),
         ("Where is the station?", "Où est la gare ?"), ("Thank you.", "Merci.")]


@pytest.fixture(scope="module")
def translator():
    model = Seq2Seq.from_pairs(PAIRS, embedding_dim=16, hidden_dim=16, seed=0,
                               attention_type="luong-general", num_layers=2)
    model.fit(PAIRS, epochs=15, batch_size=6, lr=1e-2, progress=False)
    return model


@pytest.fixture(scope="module")
def char_model():
    return CharLM(CharVocab.from_text("hello world, hello there"), hidden_size=32,
                  num_layers=2, seed=0).eval()


@pytest.mark.parametrize("dtype", DTYPES)
def test_seq2seq_translates_quantized(translator, dtype):
    q = lstmx.quantize(translator, dtype)
    kinds = {type(m).__name__ for _, m in q.named_modules()}
    assert {"QuantizedLSTM", "QuantizedLSTMCell", "QuantizedLinear", "Embedding"} <= kinds
    assert "Linear" not in kinds and "LSTM" not in kinds
    sources = [s for s, _ in PAIRS]
    for beam in (1, 3):
        out = q.translate_batch(sources, beam_size=beam)
        assert len(out) == len(sources) and all(isinstance(t, str) for t in out)
    batch = q.batches(PAIRS, 6, shuffle=False)[0]
    (src, lengths, tgt_in), _, _ = batch
    translator.eval()
    assert_within("logits", q(src, lengths, tgt_in), translator(src, lengths, tgt_in), 0.1)
    with pytest.raises(RuntimeError, match="quantized to .* for inference only"):
        q.backward(np.zeros((tgt_in.shape[0], 6, q.vocab_size_tgt), np.float32))


@pytest.mark.parametrize("dtype", DTYPES)
def test_char_model_and_sequence_model_run_quantized(char_model, rng, dtype):
    q = lstmx.quantize(char_model, dtype)
    text = sample(q, 30, prime="hel", temperature=0.0)
    assert text.startswith("hel") and len(text) == 33
    ids = rng.integers(0, len(char_model.vocab), (8, 2))
    assert_within("logits", q(ids)[0], char_model(ids)[0], 0.05)
    model = SequenceModel({"cell": "gru", "input_size": 3, "hidden_size": 8, "num_layers": 2,
                           "bidirectional": True, "output_size": 2, "seed": 0}).eval()
    qm = lstmx.quantize(model, dtype)
    x = f32(rng, 5, 4, 3)
    assert_within("output", qm(x, np.array([5, 2, 3, 1])), model(x, np.array([5, 2, 3, 1])),
                  0.03)
    with pytest.raises(RuntimeError, match="for inference only"):
        qm.backward(np.ones((4, 2), np.float32))


# -- checkpoints and commands --------------------------------------------------------------

FRESH_PROCESS = """
import json, sys
import numpy as np
from lstmx.charlm import sample
from lstmx.seq2seq import Seq2Seq
from lstmx.train.checkpoint import load_model
translator, chars = Seq2Seq.load(sys.argv[1]), load_model(sys.argv[2])
print(json.dumps({"translations": translator.translate_batch(json.loads(sys.argv[3]),
                                                               beam_size=2),
                  "text": sample(chars, 40, prime="he", temperature=0.7, seed=3)}))
"""


def test_quantized_checkpoints_load_identically_in_a_fresh_process(translator, char_model,
                                                                   tmp_path):
    sources = [s for s, _ in PAIRS]
    q_translator = lstmx.quantize(translator, "int8")
    q_chars = lstmx.quantize(char_model, "bfloat16")
    q_translator.save(tmp_path / "t.npz")
    save_checkpoint(tmp_path / "c.npz", q_chars)
    assert load_checkpoint(tmp_path / "t.npz").quantization == "int8"
    out = subprocess.run([sys.executable, "-c", FRESH_PROCESS, str(tmp_path / "t.npz"),
                          str(tmp_path / "c.npz"), json.dumps(sources)], capture_output=True,
                         text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got["translations"] == q_translator.translate_batch(sources, beam_size=2)
    assert got["text"] == sample(q_chars, 40, prime="he", temperature=0.7, seed=3)
    loaded = load_model(tmp_path / "c.npz")
    assert quantized_dtype(loaded) == "bfloat16"
    for (name, a), (_, b) in zip(q_chars.state_dict().items(), loaded.state_dict().items()):
        assert a.dtype == b.dtype and np.array_equal(a, b), name
    # a quantized checkpoint is no float model's, and the other way round
    with pytest.raises(ValueError, match="quantized to bfloat16 .*this one is float"):
        load_checkpoint(tmp_path / "c.npz").restore(char_model)
    save_checkpoint(tmp_path / "f.npz", char_model)
    with pytest.raises(ValueError, match="is float, this one is quantized to bfloat16"):
        load_checkpoint(tmp_path / "f.npz").restore(loaded)


def test_commands_quantize_a_checkpoint(translator, char_model, tmp_path, capsys):
    translator.save(tmp_path / "t.npz")
    save_checkpoint(tmp_path / "c.npz", char_model)
    q = lstmx.quantize(translator, "int8")
    assert main(["translate", "--checkpoint", str(tmp_path / "t.npz"), "--quantize", "int8",
                 "--beam-size", "2", "I am cold.", "Thank you."]) == 0
    assert capsys.readouterr().out.splitlines() == q.translate_batch(
        ["I am cold.", "Thank you."], beam_size=2)
    src, dst = tmp_path / "in.txt", tmp_path / "out.txt"
    src.write_text("I am hot.\n", encoding="utf-8")
    assert main(["translate", "--checkpoint", str(tmp_path / "t.npz"), "--quantize",
                 "bfloat16", "--input", str(src), "--output", str(dst)]) == 0
    assert dst.read_text(encoding="utf-8") == \
        lstmx.quantize(translator, "bfloat16").translate("I am hot.") + "\n"
    assert main(["generate", "--checkpoint", str(tmp_path / "c.npz"), "--quantize", "int8",
                 "--length", "20", "--prime", "he"]) == 0
    assert "--- temperature 0.8 ---\nhe" in capsys.readouterr().out


@pytest.mark.parametrize("argv,message", [
    (["translate", "--demo", "--quantize", "int8"], "--quantize is for translating with "
                                                    "--checkpoint PATH"),
    (["generate", "--demo", "--quantize", "bfloat16"], "--quantize is for sampling with "
                                                       "--checkpoint PATH"),
    (["generate", "--demo", "--quantize", "fp16"], "argument --quantize: invalid choice"),
])
def test_quantize_without_a_checkpoint_is_one_line(argv, message, capsys):
    with pytest.raises(SystemExit) as stop:
        main(argv)
    err = capsys.readouterr().err
    assert stop.value.code == 2 and message in err and "Traceback" not in err


def test_a_quantized_checkpoint_does_not_resume_training(char_model, tmp_path, capsys):
    save_checkpoint(tmp_path / "q.npz", lstmx.quantize(char_model, "int8"))
    text = tmp_path / "text.txt"
    text.write_text("hello world, hello there. " * 20, encoding="utf-8")
    with pytest.raises(SystemExit) as stop:
        main(["generate", "--text", str(text), "--resume", str(tmp_path / "q.npz")])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "quantized to int8, for inference only" in err
    with pytest.raises(SystemExit) as stop:  # a model already quantized otherwise
        main(["generate", "--checkpoint", str(tmp_path / "q.npz"), "--quantize", "bfloat16"])
    assert stop.value.code == 2 and "already quantized (int8)" in capsys.readouterr().err


def test_the_example_compares_a_layer_in_every_dtype(capsys):
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), os.pardir, "examples"))
    try:
        import quantized_inference
    finally:
        sys.path.pop(0)
    rows = quantized_inference.compare_layer(steps=3, batch=2, size=8, layers=1, repeats=1)
    assert [r[0] for r in rows] == ["float32", "int8", "bfloat16"]
    assert rows[0][1] == 0 and 0 < rows[1][1] < 0.05 and 0 < rows[2][1] < 0.05
    assert quantized_inference.main(["--steps", "2", "--batch", "1", "--size", "8",
                                     "--layers", "1"]) == 0
    assert "int8" in capsys.readouterr().out


# -- the edges of the arithmetic (a review's findings) -------------------------------------

def all_paths(fn):
    """fn() under every path, the results in a list."""
    out = []
    for path in PATHS:
        with quantized_path(path):
            out.append(fn())
    return out


def test_rows_too_small_for_their_scale_are_zero_rows_on_every_path():
    # 127 / 1e-38 overflows float32: the row is a zero row, not a row of ±127
    x = np.array([[1e-38, 0.0, -5e-39], [5e-37, 0.0, 1e-37], [1.0, 0.0, -2.0]], np.float32)
    w = np.ones((2, 3), np.float32)
    qx, sx = quantize_int8(x)
    assert qx[0].tolist() == [0, 0, 0] and sx[0] == 0
    assert qx[1].tolist() == [127, 0, 25] and sx[1] > 0  # 127 / 5e-37 is still finite
    qw = quantize(w, "int8")
    outs = all_paths(lambda: _core.quantized_linear(x, _core.QuantizedMatrix(qw.data, qw.scale)))
    want = quantized_linear(x, qw)
    assert all(np.array_equal(o, want) for o in outs)
    assert (want[0] == 0).all()


def test_bfloat16_sums_round_once_per_step_at_the_extremes():
    # a product below float32's normal range, and one above it cancelled by the sum: both
    # need the step's single rounding (a fused multiply-add), as vdpbf16ps does
    x = np.zeros((2, 2), np.float32)
    w = np.zeros((2, 2), np.float32)
    x[0] = [2.0 ** -70, 2.0 ** -60]
    w[0] = [2.0 ** -60, 2.0 ** -70]
    x[1] = [2.0 ** 64, -2.0 ** 127]
    w[1] = [2.0 ** 64, 1.0]
    xb, wb = to_bfloat16(x), to_bfloat16(w)
    want = bfloat16_matmul(xb, wb)
    assert np.isfinite(want).all()
    outs = all_paths(lambda: _core.quantized_linear(bfloat16_to_float32(xb),
                                                    _core.QuantizedMatrix(wb)))
    assert all(np.array_equal(o, want) for o in outs)


def test_subnormal_bfloat16_weights_count_as_zero_on_every_path():
    w = np.array([[0x0001, 0x3F80], [0x8005, 0x0000]], np.uint16)  # two subnormals, 1.0, 0
    x = np.array([[2.0 ** 100, 1.0]], np.float32)
    outs = all_paths(lambda: _core.quantized_linear(x, _core.QuantizedMatrix(w)))
    want = bfloat16_matmul(to_bfloat16(x), w)
    assert want.tolist() == [[1.0, 0.0]]
    assert all(np.array_equal(o, want) for o in outs)


def test_float_weights_beside_quantized_ones_are_refused(rng):
    qw = quantize(f32(rng, 8, 3), "int8")
    qh = quantize(f32(rng, 8, 2), "int8")
    q = {"w_ih": _core.QuantizedMatrix(qw.data, qw.scale),
         "w_hh": _core.QuantizedMatrix(qh.data, qh.scale, gates=4)}
    x = f32(rng, 2, 1, 3)
    with pytest.raises(ValueError, match="w_hr"):
        _core.recurrent_forward("lstm", x, None, None, {"w_hr": f32(rng, 2, 2)}, training=False,
                                quantized=q)
