"""Attention modules: masks, the batched math against a per-row loop, finite differences."""

import numpy as np
import pytest

from conftest import assert_close, finite_difference
from lstmx.seq2seq import BahdanauAttention, LuongAttention, make_attention

KINDS = ["bahdanau", "luong-dot", "luong-general", "luong-concat"]


def _setup(rng, kind, dtype=np.float64, S=6, B=4, Q=5, K=5):
    att = make_attention(kind, Q, K, dtype=dtype, seed=3)
    memory = rng.standard_normal((S, B, K)).astype(dtype)
    lengths = np.array([S, 3, 1, 5][:B])
    return att, memory, lengths


def _row_reference(att, memory, lengths, q):
    """The formulas of one row at a time, written plainly."""
    S, B, _ = memory.shape
    context = np.zeros((B, memory.shape[2]))
    weights = np.zeros((B, S))
    for b in range(B):
        m = memory[:lengths[b], b].astype(np.float64)
        if att.score == "additive":
            e = np.tanh(m @ att.memory_weight.data.T + att.query_weight.data @ q[b])
            s = e @ att.v.data
        elif att.score == "general":
            s = m @ att.weight.data.T @ q[b]
        else:
            s = m @ q[b]
        a = np.exp(s - s.max())
        a /= a.sum()
        weights[b, :lengths[b]] = a
        context[b] = a @ m
    return context, weights


@pytest.mark.parametrize("kind", KINDS)
def test_masked_positions_get_zero_weight_and_rows_sum_to_one(rng, kind):
    att, memory, lengths = _setup(rng, kind, np.float32)
    # huge values in the padding must not leak into the softmax
    for b, n in enumerate(lengths):
        memory[n:, b] = 1e4
    att.set_memory(memory, lengths)
    context, weights = att(rng.standard_normal((4, 5)).astype(np.float32))
    pad = np.arange(memory.shape[0])[None, :] >= lengths[:, None]
    assert np.all(weights[pad] == 0.0), "padded positions got weight"
    assert_close("row sums", weights.sum(axis=1), np.ones(4), 1e-6)
    assert np.all(weights[~pad] > 0)
    assert np.all(np.abs(context) < 1e3), "padding leaked into the context"


@pytest.mark.parametrize("kind", KINDS)
def test_batched_matches_per_row_formulas(rng, kind):
    att, memory, lengths = _setup(rng, kind)
    att.set_memory(memory, lengths)
    for _ in range(2):
        q = rng.standard_normal((4, 5))
        context, weights = att(q)
        want_c, want_w = _row_reference(att, memory, lengths, q)
        assert_close("weights", weights, want_w, 1e-12)
        assert_close("context", context, want_c, 1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_gradients_over_several_steps(rng, kind):
    """L = Σ_t <G_t, context_t>: gradients w.r.t. every query, the memory and the parameters."""
    att, memory, lengths = _setup(rng, kind)
    steps = 3
    queries = [rng.standard_normal((4, 5)) for _ in range(steps)]
    g = [rng.standard_normal((4, 5)) for _ in range(steps)]

    def loss():
        att.set_memory(memory, lengths)
        return sum(float((att(q)[0] * gt).sum()) for q, gt in zip(queries, g))

    att.zero_grad()
    loss()
    dq = [att.backward(gt) for gt in reversed(g)][::-1]
    dmem = att.memory_backward()
    eps = 1e-6
    targets = [("memory", memory, dmem)] + [(f"query{t}", q, d) for t, (q, d) in
                                            enumerate(zip(queries, dq))]
    targets += [(n, p.data, p.grad) for n, p in att.named_parameters()]
    for name, x, grad in targets:
        num = finite_difference(loss, x, eps)
        assert_close(f"d{name}", grad, num, 1e-7)
    # padded memory rows get no gradient
    pad = np.arange(memory.shape[0])[:, None] >= lengths[None, :]
    assert np.all(dmem[pad] == 0)


def test_published_variants_and_errors(rng):
    assert BahdanauAttention(3, 4).score == "additive"
    assert LuongAttention(3, 4, score="concat").score == "additive"
    assert LuongAttention(4, 4, score="dot").parameters() == []
    with pytest.raises(ValueError, match="query_dim == memory_dim"):
        LuongAttention(3, 4, score="dot")
    with pytest.raises(ValueError, match="attention_type"):
        make_attention("luong-cosine", 3, 3)
    att = LuongAttention(3, 4, seed=0)
    with pytest.raises(RuntimeError, match="set_memory"):
        att(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="lengths"):
        att.set_memory(np.zeros((5, 2, 4), np.float32), np.array([6, 1]))
    with pytest.raises(TypeError, match="float32"):
        att.set_memory(np.zeros((5, 2, 4)), np.array([5, 1]))
    att.set_memory(np.zeros((5, 2, 4), np.float32), np.array([5, 1]))
    with pytest.raises(ValueError, match="query"):
        att(np.zeros((3, 3), np.float32))
    att(np.zeros((2, 3), np.float32))
    with pytest.raises(RuntimeError, match="await backward"):
        att.memory_backward()


# ---------------------------------------------------------------------------
# The fused additive-score kernel (csrc/attention.hpp) against lstmx.reference.attention
# ---------------------------------------------------------------------------

from lstmx import _core  # noqa: E402
from lstmx.reference import additive_scores, additive_scores_backward  # noqa: E402

SCORE_SHAPES = [(1, 1, 1), (3, 5, 7), (4, 9, 16), (2, 3, 33), (64, 20, 256)]


@pytest.mark.parametrize("B,S,A", SCORE_SHAPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_additive_scores_kernel(rng, B, S, A, dtype, fixed_threads):
    """Forward and backward, on 1 and 2 threads: equal to the NumPy twin (float64 to 1e-12,
    float32 to the kernel contract's 1e-4), and the same whatever the team."""
    tol = 1e-12 if dtype == np.float64 else 1e-4
    keys = rng.standard_normal((B, S, A)).astype(dtype)
    qp = rng.standard_normal((B, A)).astype(dtype)
    v = rng.standard_normal(A).astype(dtype)
    dscores = rng.standard_normal((B, S)).astype(dtype)
    want_s, want_e = additive_scores(keys.astype(np.float64), qp.astype(np.float64),
                                     v.astype(np.float64))
    want_dqp, want_dkeys, want_dv = additive_scores_backward(dscores.astype(np.float64),
                                                             want_e, v.astype(np.float64))
    dkeys0 = rng.standard_normal((B, S, A)).astype(dtype)  # added to, not overwritten
    dv0 = rng.standard_normal(A).astype(dtype)
    runs = {}
    for n in (1, 2):
        fixed_threads(n)
        scores, e = _core.additive_scores(keys, qp, v, True)
        plain, none = _core.additive_scores(keys, qp, v, False)
        assert none is None
        np.testing.assert_array_equal(plain, scores)
        dkeys, dv = dkeys0.copy(), dv0.copy()
        dqp = _core.additive_scores_backward(dscores, e, v, dkeys, dv)
        got = {"scores": scores, "e": e, "dqp": dqp, "dkeys": dkeys - dkeys0, "dv": dv - dv0}
        want = {"scores": want_s, "e": want_e, "dqp": want_dqp, "dkeys": want_dkeys,
                "dv": want_dv}
        for name in got:
            # the differences dkeys - dkeys0 lose a little to the addition in float32
            assert_close(f"{np.dtype(dtype)} {name}, {n} thread(s)", got[name], want[name],
                         tol * (10 if dtype == np.float32 and name in ("dkeys", "dv") else 1))
        runs[n] = got
    for name in runs[1]:
        np.testing.assert_array_equal(runs[2][name], runs[1][name], err_msg=name)


def test_additive_scores_bad_inputs():
    keys = np.zeros((2, 3, 4), np.float32)
    qp, v = np.zeros((2, 4), np.float32), np.zeros(4, np.float32)
    with pytest.raises(TypeError, match=r"qp has dtype float64, expected float32 \(the dtype of keys\)"):
        _core.additive_scores(keys, qp.astype(np.float64), v)
    with pytest.raises(ValueError, match=r"v must have shape \(A,\) = \(4,\), got \(5,\)"):
        _core.additive_scores(keys, qp, np.zeros(5, np.float32))
    with pytest.raises(ValueError, match=r"keys must have shape \(B, S, A\)"):
        _core.additive_scores(keys[0], qp, v)
    with pytest.raises(TypeError, match="keys has dtype int64"):
        _core.additive_scores(keys.astype(np.int64), qp, v)
    e = np.zeros((2, 3, 4), np.float32)
    dv = np.zeros(4, np.float32)
    dv.flags.writeable = False
    with pytest.raises(ValueError, match="dv must be writeable"):
        _core.additive_scores_backward(np.zeros((2, 3), np.float32), e, v, e.copy(), dv)
    with pytest.raises(ValueError, match=r"dscores must have shape \(B, S\) = \(2, 3\)"):
        _core.additive_scores_backward(np.zeros((3, 2), np.float32), e, v, e.copy(), v.copy())
