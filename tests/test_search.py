"""The beam search's native step, ``_core.best_tokens``: the K most probable tokens of each
row of logits and their log-probabilities, against the NumPy statement of the same."""

import numpy as np
import pytest

from lstmx import _core


def numpy_best(logits, K, exclude):
    z = logits.astype(np.float64)
    z[:, exclude] = -np.inf
    logp = z - z.max(1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(1, keepdims=True))
    ids = np.argsort(-logp, axis=1, kind="stable")[:, :K]
    return ids, np.take_along_axis(logp, ids, axis=1)


@pytest.mark.parametrize("R,V,K", [(1, 1, 1), (3, 7, 3), (40, 3003, 5), (5, 100, 100), (2, 9, 1)])
def test_equals_the_numpy_statement(R, V, K):
    rng = np.random.default_rng(R * V + K)
    logits = (3 * rng.standard_normal((R, V))).astype(np.float32)
    exclude = [0, 1] if V > 2 else []
    K = min(K, V)
    ids, logp = _core.best_tokens(logits, K, exclude)
    want_ids, want_logp = numpy_best(logits, K, exclude)
    finite = np.isfinite(want_logp)
    assert np.array_equal(ids[finite], want_ids[finite])
    assert np.allclose(logp[finite], want_logp[finite], rtol=0, atol=1e-6)
    # impossible tokens (excluded ones, when K exceeds the possible) come last, at -inf
    assert (logp[~finite] == -np.inf).all()
    assert all(len(set(row)) == K for row in ids.tolist())


def test_ties_go_to_the_lower_id_and_excluded_ids_never_come_first():
    logits = np.array([[1, 5, 5, 2, 5, 9]], np.float32)
    ids, logp = _core.best_tokens(logits, 3, [5])
    assert ids.tolist() == [[1, 2, 4]] and np.allclose(logp, logp[0, 0])
    ids, _ = _core.best_tokens(logits, 2, [])
    assert ids.tolist() == [[5, 1]]


def test_probabilities_sum_to_one_over_the_whole_row():
    logits = np.random.default_rng(0).standard_normal((4, 50)).astype(np.float32)
    _, logp = _core.best_tokens(logits, 50, [])
    assert np.allclose(np.exp(logp).sum(1), 1.0, atol=1e-6)


@pytest.mark.parametrize("args, error", [
    ((np.zeros((2, 5)), 2, []), TypeError),             # float64
    ((np.zeros(5, np.float32), 2, []), ValueError),     # 1-D
    ((np.zeros((2, 5), np.float32), 0, []), ValueError),
    ((np.zeros((2, 5), np.float32), 6, []), ValueError),
    ((np.zeros((2, 5), np.float32), 2, [5]), ValueError),
    (([[0.0, 1.0]], 1, []), TypeError),                 # not an array
])
def test_bad_inputs_are_refused(args, error):
    with pytest.raises(error):
        _core.best_tokens(*args)
