"""Feed-forward layers: Linear, Embedding, Dropout, LayerNorm, and Sequential to chain them.

Each training-mode ``forward`` pushes what its backward needs onto a stack and each
``backward`` pops the most recent, so one layer can be applied once per decoder step and
back-propagated step by step in reverse order (as the cells do). ``eval()`` and ``clear()``
drop the stack; in eval mode forwards keep nothing. Inputs are checked before any work:
a wrong float dtype is a TypeError, a wrong shape a ValueError, both naming the argument.

Names, shapes and initialisations are PyTorch's (``torch.nn.Linear`` & co.), so their
``state_dict`` converted to NumPy loads as is.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from numpy.typing import DTypeLike

from .._matmul import linear, mm
from ..checks import check_array, check_float_dtype, positive_int
from .module import Module, Parameter, StackedModule


def _check_last_dim(x, name, dtype, size, what):
    """``x`` as a C-contiguous array of ``dtype`` with shape ``(..., size)``."""
    shape = (None,) * (np.ndim(x) - 1) + (size,)
    return check_array(x, name, dtype, shape, f"(..., {what}={size})")


class Linear(StackedModule):
    """Affine map ``y = x Wᵀ + b`` over the last axis (``torch.nn.Linear``).

    Parameters: ``weight`` (out_features, in_features), ``bias`` (out_features,), both
    initialised U(−1/√in, 1/√in) from ``seed``. ``forward(x (..., in)) -> y (..., out)``;
    ``backward(dy (..., out)) -> dx (..., in)``, accumulating ``weight.grad`` and ``bias.grad``.

    Example::

        >>> lin = Linear(3, 2, seed=0)
        >>> y = lin(np.ones((4, 5, 3), np.float32))
        >>> y.shape, lin.backward(np.ones_like(y)).shape
        ((4, 5, 2), (4, 5, 3))
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 dtype: DTypeLike = np.float32, seed: int | None = None) -> None:
        super().__init__()
        self.in_features = positive_int(in_features, "in_features")
        self.out_features = positive_int(out_features, "out_features")
        self.dtype = check_float_dtype(dtype)
        rng = np.random.default_rng(seed)
        k = 1.0 / np.sqrt(self.in_features)
        shape = (self.out_features, self.in_features)
        self.weight = Parameter(rng.uniform(-k, k, shape).astype(self.dtype))
        self.bias: Parameter | None = None
        if bias:
            self.bias = Parameter(rng.uniform(-k, k, self.out_features).astype(self.dtype))

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = _check_last_dim(x, "x", self.dtype, self.in_features, "in_features")
        if self.training:
            self._stack.append(x)
        return self._affine(x)

    def project(self, x: np.ndarray) -> np.ndarray:
        """``x Wᵀ + b`` keeping nothing for backward (decoding steps, guesses): x (..., in)
        -> (..., out)."""
        return self._affine(_check_last_dim(x, "x", self.dtype, self.in_features,
                                            "in_features"))

    def _affine(self, x):
        # one matrix product over all leading axes: (N, in) @ (in, out)
        return linear(x, self.weight.data, None if self.bias is None else self.bias.data)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        x = self._last()
        want = x.shape[:-1] + (self.out_features,)
        dy = check_array(dy, "dy", self.dtype, want, f"x.shape[:-1] + (out_features,) = {want}")
        self._stack.pop()
        dy2 = dy.reshape(-1, self.out_features)
        # dW = dyᵀ x, db = Σ dy, dx = dy W
        mm(dy2, x.reshape(-1, self.in_features), ta=True, out=self.weight.grad, beta=1.0)
        if self.bias is not None:
            self.bias.grad += dy2.sum(axis=0)
        return mm(dy2, self.weight.data).reshape(x.shape)

    def __repr__(self) -> str:
        return (f"Linear({self.in_features}, {self.out_features}, bias={self.bias is not None}, "
                f"dtype={self.dtype.name})")


class Embedding(StackedModule):
    """Lookup table: ``forward(ids)`` returns rows of ``weight`` (``torch.nn.Embedding``).

    Parameter ``weight`` (num_embeddings, embedding_dim) ~ N(0, 1) from ``seed``; the row
    ``padding_idx`` (negative counts from the end) is zero and never receives gradient.
    ``forward(ids integer array, any shape) -> (*ids.shape, embedding_dim)``; ids out of
    [0, num_embeddings) raise ValueError naming the first bad index.
    ``backward(dy (*ids.shape, D)) -> None`` scatter-adds into ``weight.grad``, touching only
    the looked-up rows (repeated ids accumulate).

    Example::

        >>> emb = Embedding(10, 4, padding_idx=0, seed=0)
        >>> emb(np.array([[1, 0], [2, 2]])).shape
        (2, 2, 4)
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 dtype: DTypeLike = np.float32, seed: int | None = None) -> None:
        super().__init__()
        self.num_embeddings = positive_int(num_embeddings, "num_embeddings")
        self.embedding_dim = positive_int(embedding_dim, "embedding_dim")
        self.dtype = check_float_dtype(dtype)
        V = self.num_embeddings
        if padding_idx is not None:
            if (isinstance(padding_idx, bool) or not isinstance(padding_idx, (int, np.integer))
                    or not -V <= padding_idx < V):
                raise ValueError(
                    f"padding_idx must be an integer in [-{V}, {V}), got {padding_idx!r}")
            padding_idx = int(padding_idx) % V
        self.padding_idx = padding_idx
        rng = np.random.default_rng(seed)
        weight = rng.standard_normal((V, self.embedding_dim)).astype(self.dtype)
        if padding_idx is not None:
            weight[padding_idx] = 0
        self.weight = Parameter(weight)

    def _check_ids(self, ids):
        if not isinstance(ids, np.ndarray):
            raise TypeError(f"ids must be a numpy.ndarray of integers, got {type(ids).__name__}")
        if ids.dtype.kind not in "iu":
            raise TypeError(f"ids must hold integers, got dtype {ids.dtype}")
        if ids.size and (ids.min() < 0 or ids.max() >= self.num_embeddings):
            bad = (ids < 0) | (ids >= self.num_embeddings)
            where = np.unravel_index(np.argmax(bad), ids.shape)
            raise ValueError(
                f"ids[{', '.join(map(str, where))}]={ids[where]} is out of range "
                f"[0, num_embeddings={self.num_embeddings})")

    def forward(self, ids: np.ndarray) -> np.ndarray:
        self._check_ids(ids)
        out = np.take(self.weight.data, ids, axis=0)
        if self.training:
            self._stack.append(ids)
        return out

    def backward(self, dy: np.ndarray) -> None:
        ids = self._last()
        want = ids.shape + (self.embedding_dim,)
        dy = check_array(dy, "dy", self.dtype, want, f"ids.shape + (embedding_dim,) = {want}")
        self._stack.pop()
        flat = ids.reshape(-1).astype(np.intp, copy=False)  # uint8 ids would overflow · D
        rows = dy.reshape(-1, self.embedding_dim)
        if self.padding_idx is not None:
            keep = flat != self.padding_idx
            flat, rows = flat[keep], rows[keep]
        # weight.grad[flat[n]] += rows[n], repeated ids summed (unbuffered scatter-add), done
        # on the flat element indices flat[n]·D + j: NumPy's 1-D add.at is ~5x its 2-D form.
        grad, D = self.weight.grad, self.embedding_dim
        if grad.flags.c_contiguous:
            np.add.at(grad.reshape(-1), (flat[:, None] * D + np.arange(D)).reshape(-1),
                      rows.reshape(-1))
        else:
            np.add.at(grad, flat, rows)
        return None

    def __repr__(self) -> str:
        return (f"Embedding({self.num_embeddings}, {self.embedding_dim}, "
                f"padding_idx={self.padding_idx}, dtype={self.dtype.name})")


class Dropout(StackedModule):
    """Inverted dropout: in training, zero each element with probability ``p`` and scale
    the kept ones by 1/(1−p); identity in eval mode (``torch.nn.Dropout``).

    Works on float32 and float64 arrays of any shape (``dtype`` is None: any float).
    Masks come from a generator seeded by ``seed`` (an int, or a ``np.random.Generator``
    to share), so the same seed gives the same sequence of masks.
    ``backward(dy)`` multiplies by the mask of the matching forward.

    Example::

        >>> drop = Dropout(0.5, seed=0)
        >>> y = drop(np.ones((2, 3), np.float32))   # entries 0.0 or 2.0
        >>> dx = drop.backward(np.ones_like(y))     # the same mask
    """

    dtype = None

    def __init__(self, p: float = 0.5,
                 seed: int | np.random.Generator | None = None) -> None:
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float, np.floating, np.integer)) \
                or not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be a probability in [0, 1], got {p!r}")
        self.p = float(p)
        self.rng = np.random.default_rng(seed)

    def forward(self, x: np.ndarray) -> np.ndarray:
        if not isinstance(x, np.ndarray):
            raise TypeError(f"x must be a numpy.ndarray, got {type(x).__name__}")
        if x.dtype not in (np.float32, np.float64):
            raise TypeError(f"x must have dtype float32 or float64, got {x.dtype}")
        if not self.training:
            return x
        if self.p == 0.0:
            mask = None
        elif self.p == 1.0:
            mask = np.zeros(x.shape, x.dtype)
        else:
            keep = self.rng.random(x.shape, dtype=x.dtype) >= self.p
            mask = keep * x.dtype.type(1.0 / (1.0 - self.p))
        self._stack.append((x.shape, x.dtype, mask))
        return x if mask is None else x * mask

    def backward(self, dy: np.ndarray) -> np.ndarray:
        shape, dtype, mask = self._last()
        dy = check_array(dy, "dy", dtype, shape, f"x.shape = {shape}")
        self._stack.pop()
        return dy if mask is None else dy * mask

    def __repr__(self) -> str:
        return f"Dropout(p={self.p})"


class LayerNorm(StackedModule):
    """Normalise the last axis to zero mean, unit variance, then scale and shift
    (``torch.nn.LayerNorm`` over one axis)::

        y = (x − mean(x)) / sqrt(var(x) + eps) * weight + bias     (biased variance)

    Parameters ``weight`` (N,) = 1 and ``bias`` (N,) = 0, N = ``normalized_shape`` (an int
    or a 1-tuple). ``forward(x (..., N)) -> (..., N)``; ``backward(dy) -> dx``.

    Example::

        >>> ln = LayerNorm(4)
        >>> y = ln(np.arange(8, dtype=np.float32).reshape(2, 4))
        >>> np.allclose(y.mean(axis=-1), 0, atol=1e-6)
        True
    """

    def __init__(self, normalized_shape: int | tuple[int] | list[int], eps: float = 1e-5,
                 dtype: DTypeLike = np.float32) -> None:
        super().__init__()
        if isinstance(normalized_shape, (tuple, list)) and len(normalized_shape) == 1:
            normalized_shape = normalized_shape[0]
        self.normalized_shape = positive_int(normalized_shape, "normalized_shape")
        if not float(eps) > 0.0:
            raise ValueError(f"eps must be positive, got {eps!r}")
        self.eps = float(eps)
        self.dtype = check_float_dtype(dtype)
        self.weight = Parameter(np.ones(self.normalized_shape, self.dtype))
        self.bias = Parameter(np.zeros(self.normalized_shape, self.dtype))

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = _check_last_dim(x, "x", self.dtype, self.normalized_shape, "normalized_shape")
        xc = x - x.mean(axis=-1, keepdims=True)
        rstd = 1.0 / np.sqrt((xc * xc).mean(axis=-1, keepdims=True) + self.dtype.type(self.eps))
        xhat = xc * rstd
        if self.training:
            self._stack.append((xhat, rstd))
        return xhat * self.weight.data + self.bias.data

    def backward(self, dy: np.ndarray) -> np.ndarray:
        xhat, rstd = self._last()
        dy = check_array(dy, "dy", self.dtype, xhat.shape, f"x.shape = {xhat.shape}")
        self._stack.pop()
        N = self.normalized_shape
        self.weight.grad += (dy * xhat).reshape(-1, N).sum(axis=0)
        self.bias.grad += dy.reshape(-1, N).sum(axis=0)
        # dx = rstd * (g − mean(g) − x̂ · mean(g x̂)),  g = dy * weight
        g = dy * self.weight.data
        return rstd * (g - g.mean(axis=-1, keepdims=True)
                       - xhat * (g * xhat).mean(axis=-1, keepdims=True))

    def __repr__(self) -> str:
        return f"LayerNorm({self.normalized_shape}, eps={self.eps}, dtype={self.dtype.name})"


class Sequential(Module):
    """Chain of modules: ``forward`` feeds each output to the next, ``backward`` runs the
    backwards in reverse order and returns the first module's input gradient (None when
    it is an Embedding). Sub-modules are named ``"0"``, ``"1"``, ... as in PyTorch, so
    parameters read ``"0.weight"``. ``dtype`` is the first sub-module's dtype that is set.

    Example::

        >>> net = Sequential(Linear(3, 8, seed=0), LayerNorm(8), Dropout(0.1, seed=1),
        ...                  Linear(8, 2, seed=2))
        >>> y = net(np.ones((5, 3), np.float32))
        >>> net.backward(np.ones_like(y)).shape
        (5, 3)
    """

    def __init__(self, *modules: Module) -> None:
        super().__init__()
        for i, m in enumerate(modules):
            if not isinstance(m, Module):
                raise TypeError(f"modules[{i}] must be a lstmx Module, got {type(m).__name__}")
            setattr(self, str(i), m)
        found = [getattr(m, "dtype", None) for m in modules]
        dtypes = [dt for dt in found if dt is not None]
        self.dtype = dtypes[0] if dtypes else None

    def __len__(self) -> int:
        return len(self._modules)

    def __getitem__(self, i: int) -> Module:
        return list(self._modules.values())[i]

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def forward(self, x: np.ndarray) -> np.ndarray:
        for m in self._modules.values():
            x = m(x)
        return x

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        for m in reversed(self._modules.values()):
            dy = m.backward(dy)
        return dy

    def clear(self) -> None:
        """Forget the forwards every sub-module kept for backward."""
        for m in self._modules.values():
            if hasattr(m, "clear"):
                m.clear()

    def __repr__(self) -> str:
        inner = ",\n".join(f"  ({name}): {m!r}" for name, m in self._modules.items())
        return f"Sequential(\n{inner}\n)"
