"""Optimizer: the bookkeeping every lstmx optimizer shares.

An optimizer holds a list of :class:`~lstmx.nn.Parameter`, a learning rate ``lr`` (a float
that schedules overwrite between steps), a step counter and its own state arrays keyed by
parameter index, e.g. ``"0.m"`` for the first moment of parameter 0. ``step()`` reads each
``p.grad`` and updates ``p.data`` in place, in ``p.data``'s dtype (float32 stays float32).

``state_dict()`` is a flat dict of Python scalars, lists, strings and NumPy arrays::

    {"type": "Adam", "lr": 0.001, "betas": [0.9, 0.999], "eps": 1e-08,
     "weight_decay": 0.0, "step": 7, "num_params": 4,
     "state": {"0.m": array(...), "0.v": array(...), ...}}

so a checkpoint can keep the arrays in ``.npz`` and the rest in a JSON header.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from numbers import Real
from typing import Any

import numpy as np

from ..nn.module import Module, Parameter


def check_real(name: str, value: Any, low: float | None = None, high: float | None = None,
               high_open: bool = False) -> float:
    """Return ``value`` as a Python float in ``[low, high]`` (``[low, high)`` with
    ``high_open``); a non-number raises TypeError, NaN or out-of-range ValueError naming
    ``name``. Python floats matter: NumPy scalars would promote float32 arrays to float64."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if math.isnan(value):
        raise ValueError(f"{name} must be a number, got nan")
    if low is not None and value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    if high is not None and (value > high or (high_open and value == high)):
        bracket = ")" if high_open else "]"
        raise ValueError(f"{name} must be in [{low}, {high}{bracket}, got {value}")
    return value


def check_int(name: str, value: Any, low: int) -> int:
    """Return ``value`` as a Python int >= ``low``; TypeError / ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    return int(value)


def check_params(params: Iterable[Parameter], allow_empty: bool = False) -> list[Parameter]:
    """``params`` as a list of distinct float Parameters (non-empty unless ``allow_empty``)."""
    if isinstance(params, (Module, Parameter, np.ndarray)):
        raise TypeError(
            f"params must be an iterable of Parameter (e.g. model.parameters()), "
            f"got {type(params).__name__}")
    try:
        params = list(params)
    except TypeError:
        raise TypeError(
            f"params must be an iterable of Parameter (e.g. model.parameters()), "
            f"got {type(params).__name__}") from None
    if not params and not allow_empty:
        raise ValueError("params is empty: there is nothing to optimize")
    seen = set()
    for i, p in enumerate(params):
        if not isinstance(p, Parameter):
            raise TypeError(f"params[{i}] must be a Parameter, got {type(p).__name__}")
        if p.data.dtype.kind != "f":
            raise TypeError(f"params[{i}] has dtype {p.data.dtype}; only float parameters "
                            f"can be optimized")
        if id(p) in seen:
            raise ValueError(f"params[{i}] appears more than once in params")
        seen.add(id(p))
    return params


class Optimizer:
    """Base class: parameters, ``lr``, step counter, per-parameter state, (de)serialisation.

    Subclasses set ``hyper_names`` (the constructor's hyper-parameters besides ``lr``, in
    order), ``state_names`` (the state arrays one parameter may have) and implement
    ``_update(i, p, grad)``, called once per parameter per step with ``self.step_count``
    already incremented.
    """

    hyper_names: tuple[str, ...] = ()
    state_names: tuple[str, ...] = ()

    def __init__(self, params: Iterable[Parameter], lr: float) -> None:
        self.params = check_params(params)
        self.lr = lr
        self.step_count = 0
        self.state: dict[str, np.ndarray] = {}

    @property
    def lr(self) -> float:
        """The learning rate (float >= 0) used by the next ``step()``; schedules set it."""
        return self._lr

    @lr.setter
    def lr(self, value: float) -> None:
        self._lr = check_real("lr", value, low=0.0)

    def zero_grad(self) -> None:
        """Set every parameter's ``grad`` to zero (in place)."""
        for p in self.params:
            p.grad[...] = 0

    def step(self) -> None:
        """Update every parameter in place from its ``grad`` (one optimisation step)."""
        for i, p in enumerate(self.params):
            if p.grad.shape != p.data.shape:
                raise ValueError(f"params[{i}].grad has shape {p.grad.shape}, expected "
                                 f"{p.data.shape} (the shape of params[{i}].data)")
        self.step_count += 1
        for i, p in enumerate(self.params):
            self._update(i, p, p.grad)
            p.version += 1

    def _update(self, i, p, grad):
        raise NotImplementedError

    def _buffer(self, i, name, p):
        """State array ``"{i}.{name}"``, created as zeros in ``p.data``'s dtype if absent."""
        key = f"{i}.{name}"
        buf = self.state.get(key)
        if buf is None:
            buf = self.state[key] = np.zeros_like(p.data)
        return buf

    def hyper(self) -> dict[str, Any]:
        """The hyper-parameters as a dict of Python scalars (``lr`` first)."""
        out: dict[str, Any] = {"lr": self.lr}
        for name in self.hyper_names:
            value = getattr(self, name)
            out[name] = list(value) if isinstance(value, tuple) else value
        return out

    def state_dict(self) -> dict[str, Any]:
        """A snapshot (copies) of hyper-parameters, step counter and state arrays."""
        return {"type": type(self).__name__, **self.hyper(), "step": self.step_count,
                "num_params": len(self.params),
                "state": {k: v.copy() for k, v in self.state.items()}}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore a ``state_dict()`` of the same optimizer type over the same parameters.

        Hyper-parameters (``lr`` included), the step counter and the state arrays are
        replaced; arrays are copied in each parameter's dtype. Everything is checked before
        anything is written: a wrong type, parameter count, key or shape raises ValueError.
        """
        d = dict(state_dict)
        if d.get("type") != type(self).__name__:
            raise ValueError(f"state_dict is for {d.get('type')!r}, not {type(self).__name__}")
        if d.get("num_params") != len(self.params):
            raise ValueError(f"state_dict holds {d.get('num_params')} parameters, this "
                             f"optimizer has {len(self.params)}")
        missing = [k for k in ("lr", "step", "state", *self.hyper_names) if k not in d]
        if missing:
            raise ValueError(f"state_dict lacks {missing}")
        staged = {}
        for key, value in d["state"].items():
            index, _, name = key.partition(".")
            if not index.isdigit() or int(index) >= len(self.params) \
                    or name not in self.state_names:
                raise ValueError(f"state_dict has unexpected state key {key!r}")
            p = self.params[int(index)]
            value = np.asarray(value)
            if value.shape != p.data.shape:
                raise ValueError(f"state_dict[{key!r}] has shape {value.shape}, expected "
                                 f"{p.data.shape}")
            staged[key] = value.astype(p.data.dtype, copy=True)
        # The constructor is the one place hyper-parameters are validated: build a
        # throw-away optimizer from the stored values and take them from it.
        restored = type(self)([Parameter(np.zeros(1))],
                              **{k: d[k] for k in ("lr", *self.hyper_names)})
        step = check_int("step", d["step"], 0)
        for name in ("lr", *self.hyper_names):
            setattr(self, name, getattr(restored, name))
        self.step_count = step
        self.state = staged

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.hyper().items())
        return f"{type(self).__name__}({args})"
