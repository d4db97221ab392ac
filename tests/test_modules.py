"""Feed-forward modules: Linear, Embedding, Dropout, LayerNorm, Sequential.

* float64 central finite-difference checks of every module, inputs and parameters;
* LIFO stacks: a layer applied per step and back-propagated step by step in reverse equals
  one call on the whole sequence; backward without forward; eval keeps nothing;
* Embedding: padding row, only touched rows get gradient, repeated ids accumulate;
* Dropout: reproducible by seed, inverted scaling, p = 0 and 1, identity in eval;
* bad inputs: clear errors naming the argument, a refused backward keeps the stack;
* PyTorch parity (skipped without torch): Linear, LayerNorm, Embedding, Sequential names.
"""

import numpy as np
import pytest

from conftest import assert_close, finite_difference
from lstmx.nn import Dropout, Embedding, LayerNorm, Linear, Module, Sequential

FD_TOL = 1e-6


def gradient_check(module, x, rng, reseed=None):
    """Compare backward's dx and parameter grads with finite differences of
    L = Σ w ⊙ module(x) for a random w. ``reseed()`` runs before every forward (for
    Dropout: a fresh generator of the same seed, hence the same mask)."""
    reseed = reseed or (lambda: None)
    reseed()
    y = module(x)
    w = rng.standard_normal(y.shape)
    module.zero_grad()
    dx = module.backward(w)

    def loss():
        reseed()
        out = module(x)
        module.clear()
        return float(np.sum(w * out))

    if dx is not None:
        assert_close("dx", dx, finite_difference(loss, x), FD_TOL)
    for name, p in module.named_parameters():
        assert_close(f"d{name}", p.grad, finite_difference(loss, p.data), FD_TOL)


def randomize(module, rng):
    for p in module.parameters():
        p.data[...] = rng.standard_normal(p.shape)


# ---------------------------------------------------------------- finite differences

@pytest.mark.parametrize("shape", [(3,), (4, 3), (2, 3, 3)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_gradients(rng, shape, bias):
    lin = Linear(3, 5, bias=bias, dtype=np.float64, seed=1)
    gradient_check(lin, rng.standard_normal(shape), rng)


def test_embedding_gradients(rng):
    ids = np.array([[0, 2, 5], [5, 5, 2], [6, 1, 0]])
    gradient_check(Embedding(7, 3, dtype=np.float64, seed=1), ids, rng)
    # With padding_idx=2 the row is read like any other but, by definition, never trained:
    # its gradient is zero, every other row still matches the finite differences.
    emb = Embedding(7, 3, padding_idx=2, dtype=np.float64, seed=1)
    w = rng.standard_normal(ids.shape + (3,))
    emb(ids)
    emb.backward(w)
    numeric = finite_difference(lambda: float(np.sum(w * emb.eval()(ids))), emb.weight.data)
    numeric[2] = 0
    assert_close("dweight", emb.weight.grad, numeric, FD_TOL)


def test_layernorm_gradients(rng):
    ln = LayerNorm(6, dtype=np.float64)
    randomize(ln, rng)
    gradient_check(ln, rng.standard_normal((3, 2, 6)), rng)


def test_dropout_gradients(rng):
    drop = Dropout(0.4)
    gradient_check(drop, rng.standard_normal((4, 5)), rng,
                   reseed=lambda: setattr(drop, "rng", np.random.default_rng(3)))


def test_sequential_gradients(rng):
    net = Sequential(Linear(4, 6, dtype=np.float64, seed=0), LayerNorm(6, dtype=np.float64),
                     Dropout(0.3), Linear(6, 2, dtype=np.float64, seed=1))
    randomize(net[1], rng)
    gradient_check(net, rng.standard_normal((3, 2, 4)), rng,
                   reseed=lambda: setattr(net[2], "rng", np.random.default_rng(5)))


def test_embedding_then_linear_gradients(rng):
    net = Sequential(Embedding(5, 4, dtype=np.float64, seed=0),
                     Linear(4, 3, dtype=np.float64, seed=1))
    assert net.dtype == np.float64
    gradient_check(net, np.array([[1, 4], [4, 0]]), rng)


# ---------------------------------------------------------------- LIFO stacks and modes

def make_step_module(kind):
    if kind == "linear":
        return Linear(4, 3, dtype=np.float64, seed=0), lambda r, s: r.standard_normal(s + (4,))
    if kind == "layernorm":
        ln = LayerNorm(4, dtype=np.float64)
        randomize(ln, np.random.default_rng(0))
        return ln, lambda r, s: r.standard_normal(s + (4,))
    return (Embedding(6, 4, padding_idx=0, dtype=np.float64, seed=0),
            lambda r, s: r.integers(0, 6, s))


@pytest.mark.parametrize("kind", ["linear", "layernorm", "embedding"])
def test_steps_backpropagated_in_reverse_equal_one_call(rng, kind):
    T, B = 5, 3
    whole, draw = make_step_module(kind)
    stepped, _ = make_step_module(kind)
    x = draw(rng, (T, B))
    y = whole(x)
    dy = rng.standard_normal(y.shape)
    dx = whole.backward(dy)

    ys = [stepped(x[t]) for t in range(T)]
    assert_close("y", np.stack(ys), y, 1e-12)
    dxs = [stepped.backward(dy[t]) for t in reversed(range(T))][::-1]
    if dx is not None:
        assert_close("dx", np.stack(dxs), dx, 1e-12)
    for (name, p), (_, q) in zip(stepped.named_parameters(), whole.named_parameters()):
        assert_close(f"d{name}", p.grad, q.grad, 1e-12)


def test_dropout_steps_pop_their_own_masks(rng):
    drop = Dropout(0.5, seed=0)
    xs = [rng.uniform(1, 2, (4, 6)) for _ in range(3)]
    ys = [drop(x) for x in xs]
    for t in reversed(range(3)):
        dx = drop.backward(np.ones((4, 6)))
        assert_close(f"dx[{t}]", dx, ys[t] / xs[t], 1e-15)


@pytest.mark.parametrize("module", [
    Linear(3, 2), Embedding(4, 2), Dropout(0.2), LayerNorm(3),
    Sequential(Linear(3, 3), Dropout(0.1))])
def test_backward_needs_a_forward(module):
    with pytest.raises(RuntimeError, match="backward.. needs a forward"):
        module.backward(np.zeros((1, 2), np.float32))


def sample_input(module):
    if isinstance(module, Embedding):
        return np.array([[1, 2]])
    return np.ones((2, 3), np.float32)


@pytest.mark.parametrize("make", [lambda: Linear(3, 2), lambda: Embedding(4, 3),
                                  lambda: Dropout(0.2), lambda: LayerNorm(3)])
def test_eval_keeps_nothing_and_drops_the_stack(make):
    module = make()
    x = sample_input(module)
    y = module(x)
    module.eval()
    assert module._stack == []
    module(x)
    with pytest.raises(RuntimeError):
        module.backward(np.ones_like(y))
    module.train()
    y = module(x)
    module(x)
    module.backward(np.ones_like(y))
    module.backward(np.ones_like(y))
    with pytest.raises(RuntimeError):
        module.backward(np.ones_like(y))


def test_clear_forgets_steps():
    net = Sequential(Linear(3, 3), Dropout(0.5), LayerNorm(3))
    net(np.ones((2, 3), np.float32))
    net.clear()
    with pytest.raises(RuntimeError):
        net.backward(np.ones((2, 3), np.float32))


def test_gradients_accumulate_until_zero_grad(rng):
    lin = Linear(3, 2, dtype=np.float64, seed=0)
    x, dy = rng.standard_normal((4, 3)), rng.standard_normal((4, 2))
    lin(x)
    lin.backward(dy)
    once = lin.weight.grad.copy()
    lin(x)
    lin.backward(dy)
    assert_close("weight.grad", lin.weight.grad, 2 * once, 1e-15)
    lin.zero_grad()
    assert not lin.weight.grad.any()


# ---------------------------------------------------------------- Linear, Embedding

def test_linear_parameters_and_init():
    lin = Linear(16, 5, seed=3)
    assert [n for n, _ in lin.named_parameters()] == ["weight", "bias"]
    assert lin.weight.shape == (5, 16) and lin.bias.shape == (5,)
    assert lin.weight.dtype == np.float32 and lin.dtype == np.float32
    assert np.abs(lin.weight.data).max() <= 0.25 and np.abs(lin.bias.data).max() <= 0.25
    assert np.array_equal(Linear(16, 5, seed=3).weight.data, lin.weight.data)
    assert not np.array_equal(Linear(16, 5, seed=4).weight.data, lin.weight.data)
    assert [n for n, _ in Linear(2, 2, bias=False).named_parameters()] == ["weight"]


def test_linear_float32_matches_float64(rng):
    l64 = Linear(8, 4, dtype=np.float64, seed=0)
    l32 = Linear(8, 4, dtype=np.float32, seed=0)
    x = rng.standard_normal((6, 8))
    y32 = l32(x.astype(np.float32))
    assert y32.dtype == np.float32
    assert_close("y", y32, l64(x), 1e-5)
    dx32 = l32.backward(np.ones_like(y32))
    assert dx32.dtype == np.float32
    assert_close("dx", dx32, l64.backward(np.ones((6, 4))), 1e-5)


def test_embedding_padding_and_touched_rows(rng):
    emb = Embedding(8, 3, padding_idx=-1, dtype=np.float64, seed=0)
    assert emb.padding_idx == 7 and not emb.weight.data[7].any()
    ids = np.array([[1, 7, 3], [3, 3, 7]])
    y = emb(ids)
    assert_close("y", y, emb.weight.data[ids], 0)
    assert not y[0, 1].any()
    dy = rng.standard_normal(y.shape)
    emb.backward(dy)
    want = np.zeros((8, 3))
    for i in range(2):
        for j in range(3):
            if ids[i, j] != 7:
                want[ids[i, j]] += dy[i, j]
    assert_close("weight.grad", emb.weight.grad, want, 1e-15)
    assert not emb.weight.grad[[0, 2, 4, 5, 6, 7]].any()


def test_embedding_accepts_any_integer_dtype_and_shape(rng):
    ids = rng.integers(0, 200, (3, 4))
    dy = rng.standard_normal((3, 4, 2)).astype(np.float32)
    want = Embedding(300, 2, seed=0)
    want(ids)
    want.backward(dy)
    for dtype in (np.uint8, np.int16, np.uint32, np.int64):
        emb = Embedding(300, 2, seed=0)
        assert_close(f"y ({np.dtype(dtype)} ids)", emb(ids.astype(dtype)), emb.weight.data[ids], 0)
        emb.backward(dy)
        assert_close(f"weight.grad ({np.dtype(dtype)} ids)", emb.weight.grad, want.weight.grad, 0)
    emb = Embedding(300, 2, seed=0)
    assert emb(np.array(5)).shape == (2,)
    assert emb(np.zeros((2, 0, 3), np.int64)).shape == (2, 0, 3, 2)


# ---------------------------------------------------------------- Dropout, LayerNorm

def test_dropout_reproducible_by_seed(rng):
    x = rng.standard_normal((50, 40)).astype(np.float32)
    a, b, c = Dropout(0.3, seed=11), Dropout(0.3, seed=11), Dropout(0.3, seed=12)
    first, second = a(x), a(x)
    assert np.array_equal(first, b(x)) and np.array_equal(second, b(x))
    assert not np.array_equal(first, second)
    assert not np.array_equal(first, c(x))


def test_dropout_scaling_and_rate(rng):
    x = rng.uniform(1, 2, (200, 100))
    y = Dropout(0.25, seed=0)(x)
    kept = y != 0
    assert abs(kept.mean() - 0.75) < 0.01
    assert_close("kept", y[kept], x[kept] / 0.75, 1e-15)
    assert y.dtype == x.dtype
    assert Dropout(0.5)(x.astype(np.float32)).dtype == np.float32


def test_dropout_extremes_and_eval(rng):
    x = rng.standard_normal((3, 4))
    zero, one = Dropout(0.0), Dropout(1.0)
    assert np.array_equal(zero(x), x) and not one(x).any()
    assert np.array_equal(zero.backward(np.ones_like(x)), np.ones_like(x))
    assert not one.backward(np.ones_like(x)).any()
    drop = Dropout(0.9).eval()
    assert np.array_equal(drop(x), x)


def test_layernorm_normalises_last_axis(rng):
    ln = LayerNorm((5,), dtype=np.float64)
    x = 3 + 10 * rng.standard_normal((4, 5))
    y = ln(x)
    assert np.abs(y.mean(axis=-1)).max() < 1e-12
    assert np.abs(y.var(axis=-1) - 1).max() < 1e-5
    ln.weight.data[...] = 2.0
    ln.bias.data[...] = 1.0
    assert_close("affine", ln(x), 2 * y + 1, 1e-14)


def test_sequential_names_and_access():
    net = Sequential(Linear(3, 4, seed=0), Dropout(0.1), Linear(4, 2, seed=1))
    assert [n for n, _ in net.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert len(net) == 3 and isinstance(net[1], Dropout) and isinstance(net[-1], Linear)
    assert [type(m) for m in net] == [Linear, Dropout, Linear]
    assert net.dtype == np.float32 and Sequential(Dropout()).dtype is None
    net.eval()
    assert not net[1].training


# ---------------------------------------------------------------- bad inputs

@pytest.mark.parametrize("call, error, pattern", [
    (lambda: Linear(3, 2)(np.ones((2, 3))), TypeError, "x has dtype float64, expected float32"),
    (lambda: Linear(3, 2)(np.ones((2, 3), np.int64)), TypeError, "x has dtype int64"),
    (lambda: Linear(3, 2)([[1.0, 2.0, 3.0]]), TypeError, "x must be a numpy.ndarray"),
    (lambda: Linear(3, 2)(np.ones((2, 4), np.float32)), ValueError,
     r"x must have shape \(\.\.\., in_features=3\), got \(2, 4\)"),
    (lambda: Linear(3, 2)(np.float32(1.0)), TypeError, "x must be a numpy.ndarray"),
    (lambda: Linear(0, 2), ValueError, "in_features must be a positive integer"),
    (lambda: Linear(2, 2.5), ValueError, "out_features must be a positive integer"),
    (lambda: Linear(2, 2, dtype=np.int32), TypeError, "dtype must be float32 or float64"),
    (lambda: Embedding(5, 2)(np.array([1.0])), TypeError,
     "ids must hold integers, got dtype float64"),
    (lambda: Embedding(5, 2)([1, 2]), TypeError,
     "ids must be a numpy.ndarray of integers, got list"),
    (lambda: Embedding(5, 2)(np.array([[0, 1], [5, 2]])), ValueError,
     r"ids\[1, 0\]=5 is out of range \[0, num_embeddings=5\)"),
    (lambda: Embedding(5, 2)(np.array([0, -1])), ValueError, r"ids\[1\]=-1 is out of range"),
    (lambda: Embedding(5, 2, padding_idx=5), ValueError, "padding_idx must be an integer"),
    (lambda: Embedding(0, 2), ValueError, "num_embeddings must be a positive integer"),
    (lambda: Dropout(1.5), ValueError, r"p must be a probability in \[0, 1\]"),
    (lambda: Dropout(0.5)(np.ones(3, np.int32)), TypeError,
     "x must have dtype float32 or float64, got int32"),
    (lambda: LayerNorm(4)(np.ones((2, 3), np.float32)), ValueError,
     r"x must have shape \(\.\.\., normalized_shape=4\)"),
    (lambda: LayerNorm(4)(np.ones((2, 4))), TypeError, "x has dtype float64"),
    (lambda: LayerNorm(4, eps=0), ValueError, "eps must be positive"),
    (lambda: Sequential(Linear(2, 2), np.tanh), TypeError, r"modules\[1\] must be a lstmx Module"),
])
def test_bad_inputs(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


@pytest.mark.parametrize("make", [lambda: Linear(3, 2), lambda: Embedding(4, 3),
                                  lambda: Dropout(0.2), lambda: LayerNorm(3)])
def test_refused_backward_keeps_the_step(make):
    module = make()
    y = module(sample_input(module))
    with pytest.raises(ValueError, match="dy must have shape"):
        module.backward(np.ones(y.shape + (1,), np.float32))
    with pytest.raises(TypeError, match="dy has dtype float64"):
        module.backward(np.ones(y.shape))
    module.backward(np.ones_like(y))


def test_modules_share_the_module_base():
    for m in (Linear(2, 2), Embedding(2, 2), Dropout(), LayerNorm(2), Sequential()):
        assert isinstance(m, Module)


# ---------------------------------------------------------------- PyTorch parity

def to_torch(torch, a):
    return torch.from_numpy(np.array(a)).requires_grad_(True)


def test_linear_matches_torch(rng):
    torch = pytest.importorskip("torch")
    ref = torch.nn.Linear(5, 3).double()
    lin = Linear(5, 3, dtype=np.float64)
    lin.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})
    x, dy = rng.standard_normal((4, 2, 5)), rng.standard_normal((4, 2, 3))
    xt = to_torch(torch, x)
    yt = ref(xt)
    yt.backward(torch.from_numpy(dy))
    assert_close("y", lin(x), yt.detach().numpy(), 1e-12)
    assert_close("dx", lin.backward(dy), xt.grad.numpy(), 1e-12)
    assert_close("weight.grad", lin.weight.grad, ref.weight.grad.numpy(), 1e-12)
    assert_close("bias.grad", lin.bias.grad, ref.bias.grad.numpy(), 1e-12)


def test_layernorm_matches_torch(rng):
    torch = pytest.importorskip("torch")
    ref = torch.nn.LayerNorm(6, eps=1e-5).double()
    with torch.no_grad():
        ref.weight.copy_(torch.from_numpy(rng.standard_normal(6)))
        ref.bias.copy_(torch.from_numpy(rng.standard_normal(6)))
    ln = LayerNorm(6, dtype=np.float64)
    ln.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})
    x, dy = 2 + 3 * rng.standard_normal((3, 4, 6)), rng.standard_normal((3, 4, 6))
    xt = to_torch(torch, x)
    yt = ref(xt)
    yt.backward(torch.from_numpy(dy))
    assert_close("y", ln(x), yt.detach().numpy(), 1e-12)
    assert_close("dx", ln.backward(dy), xt.grad.numpy(), 1e-10)
    assert_close("weight.grad", ln.weight.grad, ref.weight.grad.numpy(), 1e-12)
    assert_close("bias.grad", ln.bias.grad, ref.bias.grad.numpy(), 1e-12)


def test_embedding_matches_torch(rng):
    torch = pytest.importorskip("torch")
    ref = torch.nn.Embedding(9, 4, padding_idx=3).double()
    emb = Embedding(9, 4, padding_idx=3, dtype=np.float64)
    emb.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})
    ids = rng.integers(0, 9, (6, 5))
    dy = rng.standard_normal((6, 5, 4))
    yt = ref(torch.from_numpy(ids))
    yt.backward(torch.from_numpy(dy))
    assert_close("y", emb(ids), yt.detach().numpy(), 0)
    emb.backward(dy)
    assert_close("weight.grad", emb.weight.grad, ref.weight.grad.numpy(), 1e-12)


def test_sequential_loads_torch_state_dict(rng):
    torch = pytest.importorskip("torch")
    ref = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Dropout(0.5), torch.nn.LayerNorm(6),
                              torch.nn.Linear(6, 2)).double().eval()
    net = Sequential(Linear(4, 6, dtype=np.float64), Dropout(0.5), LayerNorm(6, dtype=np.float64),
                     Linear(6, 2, dtype=np.float64)).eval()
    net.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})
    x = rng.standard_normal((5, 4))
    with torch.no_grad():
        assert_close("y", net(x), ref(torch.from_numpy(x)).numpy(), 1e-12)
