"""Parameter and Module: the explicit forward/backward contract of every lstmx layer.

A Module has ``forward(...)`` and ``backward(grad_out)``. ``backward`` returns the gradient
with respect to the module's input and *accumulates* the gradients of its parameters into
``param.grad``; ``zero_grad()`` clears them. There is no tape and no hidden graph: a model's
backward is its forward read from bottom to top.

Example::

    >>> import numpy as np, lstmx
    >>> lstm = lstmx.LSTM(4, 8, seed=0)
    >>> [name for name, _ in lstm.named_parameters()]
    ['weight_ih_l0', 'weight_hh_l0', 'bias_ih_l0', 'bias_hh_l0']
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

if TYPE_CHECKING:
    from typing_extensions import Self


_DETECT_RAW_WRITES = False


def detect_raw_writes(on: bool = True) -> bool:
    """Turn on (or off) the check for raw writes into a parameter's array between a training
    forward and its backward; returns the previous setting.

    lstmx's own writers (optimizer steps, ``load_state_dict``) bump ``Parameter.version``,
    and backward always refuses to run after them. A raw write, ``p.data[...] = v``, cannot be
    seen that way (as with torch's ``.data``): the backward would mix the new weights with the
    old forward's activations. With this check on, every training forward keeps a checksum of
    each parameter and backward compares it, raising RuntimeError naming the parameter. It
    reads every parameter twice per forward/backward pair: measured 1.3-1.6 % of an LSTM
    layer's training step (nmt-m, lat-b1) and 12 % of a cell step (B=64, H=256), so it is
    off by default; turn it on to debug.
    """
    global _DETECT_RAW_WRITES
    previous, _DETECT_RAW_WRITES = _DETECT_RAW_WRITES, bool(on)
    return previous


def _checksum(a: np.ndarray) -> int:
    """A sum of the array's bytes as 64-bit (or 32-bit) words, wrapping: any single change of
    an element changes it."""
    flat = np.ascontiguousarray(a).reshape(-1)
    if flat.nbytes % 8 == 0:
        return int(flat.view(np.uint64).sum(dtype=np.uint64))
    return int(flat.view(np.uint8).astype(np.uint64).sum())


class Parameter:
    """A trainable array ``data`` with its accumulated gradient ``grad`` (same shape, dtype)."""

    __slots__ = ("data", "grad", "version", "_shape", "_dtype")

    def __init__(self, data: ArrayLike) -> None:
        self.data: np.ndarray = np.ascontiguousarray(data)
        self.grad = np.zeros_like(self.data)
        # counts lstmx's writes to ``data`` (optimizer steps, load_state_dict): a backward
        # refuses to run through values that changed after its forward
        self.version = 0
        self._shape, self._dtype = self.data.shape, self.data.dtype

    def check(self, name: str) -> None:
        """Raise TypeError/ValueError naming ``name`` unless ``data`` still has the shape
        and dtype it was created with and is C-contiguous (``data`` replaced by hand)."""
        d = self.data
        if not isinstance(d, np.ndarray):
            raise TypeError(f"{name} must be a numpy.ndarray, got {type(d).__name__}")
        if d.shape != self._shape:
            raise ValueError(f"{name} has shape {d.shape}, expected {self._shape}")
        if d.dtype != self._dtype:
            raise TypeError(f"{name} has dtype {d.dtype}, expected {self._dtype} (the "
                            "module's dtype); lstmx does not cast silently")
        if not d.flags.c_contiguous:
            raise ValueError(f"{name} must be C-contiguous (np.ascontiguousarray)")

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype[Any]:
        return self.data.dtype

    def __repr__(self) -> str:
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype})"


class Module:
    """Base class: registers Parameters and sub-Modules assigned as attributes."""

    # set in __init__ with object.__setattr__ (declared here for type checkers only)
    _parameters: OrderedDict[str, Parameter]
    _modules: OrderedDict[str, Module]
    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    def __setattr__(self, name: str, value: Any) -> None:
        params = self.__dict__.get("_parameters")
        if params is None:
            raise AttributeError("call Module.__init__() before assigning attributes")
        if isinstance(value, Parameter):
            params[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(f"{type(self).__name__} does not define forward()")

    def backward(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(f"{type(self).__name__} does not define backward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """Yield ``(name, Parameter)`` pairs, sub-modules' names dotted (``encoder.weight``)."""
        for name, p in self._parameters.items():
            yield prefix + name, p
        for mname, m in self._modules.items():
            yield from m.named_parameters(prefix + mname + ".")

    def parameter_versions(self) -> dict[str, Any]:
        """``{name: version}`` of every parameter (``(version, checksum)`` while
        ``detect_raw_writes`` is on): kept by a training forward, compared by its backward
        (``check_versions``)."""
        if _DETECT_RAW_WRITES:
            return {name: (p.version, _checksum(p.data)) for name, p in self.named_parameters()}
        return {name: p.version for name, p in self.named_parameters()}

    def check_versions(self, kept: Mapping[str, Any]) -> None:
        """Raise RuntimeError naming the parameters whose values changed since the forward
        that kept ``kept``: by lstmx (an optimizer step, load_state_dict) always, by a raw
        write into ``p.data`` while ``detect_raw_writes`` is on. The backward would otherwise
        mix the new weights with the old forward's activations."""
        now = self.parameter_versions()
        stepped = [n for n, v in now.items() if _version(kept.get(n)) != _version(v)]
        if stepped:
            raise RuntimeError(
                f"{type(self).__name__}.backward(): {', '.join(stepped)} changed after the "
                "forward (optimizer step or load_state_dict); run backward before the step")
        written = [n for n, v in now.items() if isinstance(v, tuple) and
                   isinstance(kept.get(n), tuple) and kept[n] != v]
        if written:
            raise RuntimeError(
                f"{type(self).__name__}.backward(): {', '.join(written)} written in place "
                "(p.data[...] = ...) after the forward; run the forward again first")

    def check_parameters(self) -> None:
        """Check every parameter's array against its shape and dtype (``Parameter.check``):
        the layers do so before each call, so a replaced ``p.data`` is named in the error."""
        for name, p in self.named_parameters():
            p.check(name)

    def parameters(self) -> list[Parameter]:
        """List of this module's Parameters (and its sub-modules')."""
        return [p for _, p in self.named_parameters()]

    def zero_grad(self) -> None:
        """Set every parameter's ``grad`` to zero."""
        for p in self.parameters():
            p.grad[...] = 0

    @property
    def inference_only(self) -> str | None:
        """Why this module cannot train (the quantized modules say), or None: it can."""
        return None

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """Yield ``(name, module)`` for this module (name ``prefix``, "" by default) and every
        sub-module, depth first, names dotted (``encoder.rnn``)."""
        yield prefix, self
        for name, m in self._modules.items():
            yield from m.named_modules(f"{prefix}.{name}" if prefix else name)

    def check_trainable(self) -> None:
        """Raise RuntimeError when this module or one of its sub-modules is inference-only
        (quantized), naming it and saying why."""
        for name, m in self.named_modules():
            if m.inference_only:
                where = f" ({name})" if name else ""
                raise RuntimeError(f"{type(self).__name__}{where}: {m.inference_only}")

    def train(self, mode: bool = True) -> Self:
        """Training mode: forwards keep what backward needs (and dropout is active).
        RuntimeError, before anything changes, for a model with inference-only parts."""
        if mode:
            self.check_trainable()
        object.__setattr__(self, "training", bool(mode))
        for m in self._modules.values():
            m.train(mode)
        return self

    def eval(self) -> Self:
        """Inference mode: forwards keep nothing for backward."""
        return self.train(False)

    def state_dict(self) -> OrderedDict[str, np.ndarray]:
        """``{name: array}`` copies of every parameter, in ``named_parameters`` order."""
        return OrderedDict((name, p.data.copy()) for name, p in self.named_parameters())

    def load_state_dict(self, state: Mapping[str, ArrayLike], strict: bool = True) -> None:
        """Copy arrays from ``state`` into the parameters of the same names.

        Shapes must match exactly; values are converted to each parameter's dtype (a
        PyTorch ``state_dict`` turned into NumPy arrays loads as is), except into integer
        parameters (quantized weights), which take only their own dtype. With ``strict``,
        missing or unexpected keys raise KeyError. Nothing is written unless all checks pass.
        """
        own = dict(self.named_parameters())
        if strict:
            missing = [k for k in own if k not in state]
            extra = [k for k in state if k not in own]
            if missing or extra:
                raise KeyError(f"load_state_dict: missing keys {missing}, unexpected keys {extra}")
        staged = []
        for name, p in own.items():
            if name not in state:
                continue
            value = np.asarray(state[name])
            if value.shape != p.data.shape:
                raise ValueError(
                    f"load_state_dict: {name} must have shape {p.data.shape}, got {value.shape}")
            if p.data.dtype.kind in "iu" and value.dtype != p.data.dtype:
                raise ValueError(
                    f"load_state_dict: {name} holds quantized {p.data.dtype} values, got "
                    f"{value.dtype} (quantize the float model with lstmx.quantize instead)")
            staged.append((p, value))
        for p, value in staged:
            p.data[...] = value.astype(p.data.dtype, copy=False)
            p.version += 1

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _version(v: Any) -> Any:
    return v[0] if isinstance(v, tuple) else v


class _KeptForBackward(list):
    """A StackedModule's forwards kept for backward, each with its parameters' versions."""

    def __init__(self, owner):
        super().__init__()
        self.owner, self.versions = owner, []

    def append(self, entry):
        super().append(entry)
        self.versions.append(self.owner.parameter_versions())

    def pop(self, *index):
        self.versions.pop(*index)
        return super().pop(*index)

    def clear(self):
        super().clear()
        self.versions.clear()


class StackedModule(Module):
    """A Module applied step by step (decoders, samplers): each training forward pushes what its
    backward needs onto ``self._stack``, each backward pops the most recent (LIFO)."""

    def __init__(self) -> None:
        super().__init__()
        self._stack = _KeptForBackward(self)

    def _last(self):
        """The most recent forward kept for backward (popped once backward's checks pass)."""
        if not self._stack:
            raise RuntimeError(
                f"{type(self).__name__}.backward() needs a forward() in training mode first "
                "(one backward per forward, most recent first)")
        self.check_parameters()
        self.check_versions(self._stack.versions[-1])
        return self._stack[-1]

    def clear(self) -> None:
        """Forget the forwards kept for backward."""
        self._stack.clear()

    def train(self, mode: bool = True) -> Self:
        if not mode:
            self.clear()
        return super().train(mode)
