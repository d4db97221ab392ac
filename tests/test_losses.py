"""Losses: CrossEntropyLoss (mask, label smoothing), MSELoss, BCEWithLogitsLoss.

* float64 central finite-difference checks of every loss's backward;
* CrossEntropyLoss against the definition written out (target distribution q, log-softmax),
  masked tokens ignored, stability for huge logits, num_tokens, an empty mask;
* MSE and BCE with a mask over leading axes; BCE stable for logits of ±1000;
* backward without (or twice after) a forward; bad inputs name the argument;
* PyTorch parity (skipped without torch): cross_entropy with ignore_index and
  label_smoothing, binary_cross_entropy_with_logits, mse_loss.
"""

import numpy as np
import pytest

from conftest import assert_close, finite_difference
from lstmx.train import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss

FD_TOL = 1e-6


def ce_data(rng, T=4, B=3, V=6):
    logits = 2 * rng.standard_normal((T, B, V))
    targets = rng.integers(0, V, (T, B))
    mask = np.ones((T, B), bool)
    mask[2:, 1] = False
    mask[3, 2] = False
    return logits, targets, mask


def ce_by_definition(logits, targets, mask, eps):
    """Mean over real tokens of −Σ_v q_v log softmax(z)_v, q = (1 − ε) onehot + ε/V."""
    V = logits.shape[-1]
    total, n = 0.0, 0
    for idx in np.ndindex(targets.shape):
        if mask is not None and not mask[idx]:
            continue
        z = logits[idx]
        logp = z - np.log(np.sum(np.exp(z - z.max()))) - z.max()
        q = np.full(V, eps / V)
        q[targets[idx]] += 1 - eps
        total -= np.dot(q, logp)
        n += 1
    return total / n


# ---------------------------------------------------------------- cross-entropy

@pytest.mark.parametrize("eps", [0.0, 0.1, 1.0])
@pytest.mark.parametrize("masked", [False, True])
def test_cross_entropy_value_and_gradient(rng, eps, masked):
    logits, targets, mask = ce_data(rng)
    mask = mask if masked else None
    ce = CrossEntropyLoss(label_smoothing=eps)
    loss = ce(logits, targets, mask)
    assert isinstance(loss, float)
    assert_close("loss", loss, ce_by_definition(logits, targets, mask, eps), 1e-12)
    assert ce.num_tokens == (mask.sum() if masked else targets.size)
    grad = ce.backward()
    numeric = finite_difference(lambda: ce.forward(logits, targets, mask), logits)
    assert_close("dlogits", grad, numeric, FD_TOL)


def test_cross_entropy_ignores_masked_tokens(rng):
    logits, targets, mask = ce_data(rng)
    ce = CrossEntropyLoss(0.2)
    loss = ce(logits, targets, mask)
    grad = ce.backward()
    assert not grad[~mask].any()
    changed_logits, changed_targets = logits.copy(), targets.copy()
    changed_logits[~mask] = 1e30
    changed_targets[~mask] = -100
    assert ce(changed_logits, changed_targets, mask) == loss
    assert_close("dlogits", ce.backward(), grad, 0)


def test_cross_entropy_is_stable_for_huge_logits(rng):
    logits, targets, mask = ce_data(rng)
    ce = CrossEntropyLoss(0.1)
    want = ce(logits, targets, mask)
    grad = ce.backward()
    shifted = logits + 1e4 * rng.standard_normal((4, 3, 1))
    assert_close("loss", ce(shifted, targets, mask), want, 1e-9)
    assert_close("dlogits", ce.backward(), grad, 1e-9)
    huge = np.zeros((1, 3), np.float32)
    huge[0, 0] = 1e30
    assert ce(huge, np.array([1]), None) > 1e29
    assert np.isfinite(ce.backward()).all()


def test_cross_entropy_float32_and_any_leading_shape(rng):
    logits, targets, mask = ce_data(rng)
    ce = CrossEntropyLoss()
    want = ce(logits, targets, mask)
    want_grad = ce.backward()
    assert_close("loss", ce(logits.astype(np.float32), targets, mask), want, 1e-6)
    grad = ce.backward()
    assert grad.dtype == np.float32
    assert_close("dlogits", grad, want_grad, 1e-5)
    flat = ce(logits.reshape(-1, 6), targets.reshape(-1), mask.reshape(-1))
    assert_close("loss (N, V)", flat, want, 1e-12)
    assert ce(logits[0, 0], np.array(targets[0, 0]), None) > 0  # one token: logits (V,), target ()


def test_cross_entropy_empty_mask_gives_zero(rng):
    logits, targets, _ = ce_data(rng)
    ce = CrossEntropyLoss()
    assert ce(logits, targets, np.zeros(targets.shape, bool)) == 0.0
    assert ce.num_tokens == 0
    assert not ce.backward().any()


# ---------------------------------------------------------------- MSE, BCE

@pytest.mark.parametrize("cls", [MSELoss, BCEWithLogitsLoss])
@pytest.mark.parametrize("masked", [False, True])
def test_elementwise_losses_gradient(rng, cls, masked):
    pred = 3 * rng.standard_normal((4, 3, 2))
    target = rng.uniform(0, 1, (4, 3, 2))
    mask = (rng.uniform(size=(4, 3)) < 0.6) if masked else None
    loss = cls()
    loss(pred, target, mask)
    grad = loss.backward()
    numeric = finite_difference(lambda: loss.forward(pred, target, mask), pred)
    assert_close("dpred", grad, numeric, FD_TOL)


def test_mse_value_and_mask(rng):
    pred, target = rng.standard_normal((5, 3, 2)), rng.standard_normal((5, 3, 2))
    mse = MSELoss()
    assert_close("loss", mse(pred, target), np.mean((pred - target) ** 2), 1e-14)
    mask = np.array([True, False, True])
    masked = mse(pred[None, 0], target[None, 0], mask[None])
    assert mse.num_tokens == 4
    assert_close("masked", masked, np.mean((pred[0, mask] - target[0, mask]) ** 2), 1e-14)


def test_bce_value_and_stability():
    x = np.array([-1000.0, -3.0, 0.0, 2.0, 1000.0])
    y = np.array([1.0, 0.0, 0.5, 1.0, 0.0])
    bce = BCEWithLogitsLoss()
    sig = 1 / (1 + np.exp(-x[1:4]))
    middle = -(y[1:4] * np.log(sig) + (1 - y[1:4]) * np.log(1 - sig))
    assert_close("loss", bce(x, y), (1000 + middle.sum() + 1000) / 5, 1e-14)
    assert_close("dlogits", bce.backward(), (np.r_[0, sig, 1] - y) / 5, 1e-14)
    x32 = x.astype(np.float32)
    assert np.isfinite(bce(x32, y.astype(np.float32)))
    assert bce.backward().dtype == np.float32


# ---------------------------------------------------------------- protocol, bad inputs

@pytest.mark.parametrize("loss", [CrossEntropyLoss(), MSELoss(), BCEWithLogitsLoss()])
def test_backward_needs_a_forward(loss):
    with pytest.raises(RuntimeError, match="needs a forward"):
        loss.backward()
    if isinstance(loss, CrossEntropyLoss):
        loss(np.zeros((2, 3)), np.array([0, 1]))
    else:
        loss(np.zeros(3), np.ones(3))
    loss.backward()
    with pytest.raises(RuntimeError, match="one backward per forward"):
        loss.backward()


Z = np.zeros((4, 2, 5))
T = np.zeros((4, 2), np.int64)


@pytest.mark.parametrize("call, error, pattern", [
    (lambda: CrossEntropyLoss()(Z.astype(np.int64), T), TypeError, "logits must have dtype"),
    (lambda: CrossEntropyLoss()(list(Z), T), TypeError, "logits must be a numpy.ndarray"),
    (lambda: CrossEntropyLoss()(Z, T.astype(float)), TypeError,
     "targets must hold integers, got dtype float64"),
    (lambda: CrossEntropyLoss()(Z, T[:3]), ValueError,
     r"targets must have shape logits.shape\[:-1\] = \(4, 2\), got \(3, 2\)"),
    (lambda: CrossEntropyLoss()(Z, T, T), TypeError, "mask must have dtype bool, got int64"),
    (lambda: CrossEntropyLoss()(Z, T, [True]), TypeError, "mask must be a numpy.ndarray"),
    (lambda: CrossEntropyLoss()(Z[0, 0], 1), TypeError, "targets must be a numpy.ndarray of int"),
    (lambda: CrossEntropyLoss()(Z, T, np.ones(4, bool)), ValueError, "mask must have shape"),
    (lambda: CrossEntropyLoss()(Z, np.array([[0, 1]] * 3 + [[5, 0]])), ValueError,
     r"targets\[3, 0\]=5 is out of range \[0, V=5\)"),
    (lambda: CrossEntropyLoss()(Z, np.array([[0, 1]] * 3 + [[0, -1]])), ValueError,
     r"targets\[3, 1\]=-1 is out of range"),
    (lambda: CrossEntropyLoss(label_smoothing=1.5), ValueError, "label_smoothing must lie in"),
    (lambda: MSELoss()(Z, Z.astype(np.float32)), TypeError,
     "target has dtype float32, expected float64"),
    (lambda: MSELoss()(Z, Z[:, :1]), ValueError, "target must have the shape of pred"),
    (lambda: MSELoss()(Z, Z, np.ones((4, 3), bool)), ValueError, "mask must have shape"),
    (lambda: BCEWithLogitsLoss()(Z.astype(np.float16), Z), TypeError,
     "pred must have dtype float32"),
    (lambda: BCEWithLogitsLoss()(Z, Z, T), TypeError, "mask must have dtype bool"),
])
def test_bad_inputs(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


# ---------------------------------------------------------------- PyTorch parity

@pytest.mark.parametrize("eps", [0.0, 0.1, 0.3])
def test_cross_entropy_matches_torch(rng, eps):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    logits, targets, mask = ce_data(rng, T=5, B=4, V=7)
    ce = CrossEntropyLoss(label_smoothing=eps)
    loss = ce(logits, targets, mask)
    grad = ce.backward()
    zt = torch.from_numpy(logits.reshape(-1, 7).copy()).requires_grad_(True)
    tt = torch.from_numpy(np.where(mask, targets, -100).reshape(-1))
    want = F.cross_entropy(zt, tt, ignore_index=-100, label_smoothing=eps)
    want.backward()
    assert_close("loss", loss, want.item(), 1e-12)
    assert_close("dlogits", grad.reshape(-1, 7), zt.grad.numpy(), 1e-12)


def test_bce_and_mse_match_torch(rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = 5 * rng.standard_normal((6, 3))
    x[0, 0], x[0, 1] = 200.0, -200.0
    y = rng.uniform(0, 1, (6, 3))
    for loss, fn in ((BCEWithLogitsLoss(), F.binary_cross_entropy_with_logits),
                     (MSELoss(), F.mse_loss)):
        value = loss(x, y)
        grad = loss.backward()
        xt = torch.from_numpy(x.copy()).requires_grad_(True)
        want = fn(xt, torch.from_numpy(y))
        want.backward()
        assert_close(f"{type(loss).__name__} loss", value, want.item(), 1e-12)
        assert_close(f"{type(loss).__name__} grad", grad, xt.grad.numpy(), 1e-12)
