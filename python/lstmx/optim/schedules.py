"""Learning-rate schedules: they write ``optimizer.lr`` between optimizer steps.

Call ``schedule.step()`` once after each ``optimizer.step()`` (or once per epoch, as you
choose the unit), ``schedule.step(metric)`` for :class:`ReduceLROnPlateau`. ``last_step``
counts the calls so far. The closed-form schedules compute ``lr`` from the learning rate the
optimizer had when the schedule was made (``base_lr``) and ``last_step``, so a restored
schedule gives exactly the same sequence. ``state_dict()`` holds Python scalars and
strings only (``best`` of the plateau schedule may be ``inf``, which ``json`` writes as
``Infinity``).

Example::

    >>> import numpy as np
    >>> from lstmx.nn import Parameter
    >>> from lstmx.optim import SGD
    >>> opt = SGD([Parameter(np.zeros(1))], lr=1.0)
    >>> sched = StepLR(opt, step_size=2, gamma=0.5)
    >>> lrs = []
    >>> for _ in range(5):
    ...     lrs.append(opt.lr); opt.step(); sched.step()
    >>> lrs
    [1.0, 1.0, 0.5, 0.5, 0.25]
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from .base import Optimizer, check_int, check_real


class _Schedule:
    """Shared parts: the optimizer, the step counter, (de)serialisation of hyper-parameters
    (``hyper_names``, validated by ``_validate``) and counters (``counter_names``)."""

    hyper_names: tuple[str, ...] = ()
    counter_names: tuple[str, ...] = ("last_step",)

    def __init__(self, optimizer: Optimizer, **hypers: Any) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer must be an lstmx.optim optimizer, "
                            f"got {type(optimizer).__name__}")
        self.optimizer = optimizer
        self.__dict__.update(self._validate(optimizer.lr, **hypers))
        self.base_lr = optimizer.lr
        self.last_step = 0

    def _validate(self, base_lr, **hypers):
        """The hyper-parameters, checked (against ``base_lr`` where needed), as a dict."""
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """Hyper-parameters and counters as a dict of Python scalars and strings."""
        names = ("base_lr", *self.hyper_names, *self.counter_names)
        return {"type": type(self).__name__, **{k: getattr(self, k) for k in names}}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore a ``state_dict()`` of the same schedule type (checked before writing)."""
        d = dict(state_dict)
        if d.get("type") != type(self).__name__:
            raise ValueError(f"state_dict is for {d.get('type')!r}, not {type(self).__name__}")
        missing = [k for k in ("base_lr", *self.hyper_names, *self.counter_names)
                   if k not in d]
        if missing:
            raise ValueError(f"state_dict lacks {missing}")
        base_lr = check_real("base_lr", d["base_lr"], low=0.0)
        counters = self._check_counters(d)
        hypers = self._validate(base_lr, **{k: d[k] for k in self.hyper_names})
        self.__dict__.update(hypers, base_lr=base_lr, **counters)

    def _check_counters(self, d):
        return {"last_step": check_int("last_step", d["last_step"], 0)}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={getattr(self, k)!r}" for k in self.hyper_names)
        return f"{type(self).__name__}({args}, last_step={self.last_step})"


class _ClosedForm(_Schedule):
    """A schedule whose lr is a function ``lr_at(n)`` of ``base_lr`` and the step count."""

    def __init__(self, optimizer: Optimizer, **hypers: Any) -> None:
        super().__init__(optimizer, **hypers)
        optimizer.lr = self.lr_at(0)

    def lr_at(self, n: int) -> float:
        """The learning rate after ``n`` calls of ``step()``."""
        raise NotImplementedError

    def step(self) -> None:
        """Advance one step and set ``optimizer.lr``."""
        self.last_step += 1
        self.optimizer.lr = self.lr_at(self.last_step)

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore the schedule and set ``optimizer.lr`` to its value at ``last_step``."""
        super().load_state_dict(state_dict)
        self.optimizer.lr = self.lr_at(self.last_step)


class StepLR(_ClosedForm):
    """Decay by ``gamma`` every ``step_size`` steps, as ``torch.optim.lr_scheduler.StepLR``::

        lr(n) = base_lr * gamma ** (n // step_size)

    Args:
        optimizer: an lstmx optimizer; its ``lr`` at construction is ``base_lr``.
        step_size: steps between decays (>= 1).
        gamma: multiplicative factor (>= 0).
    """

    hyper_names = ("step_size", "gamma")
    step_size: int  # set from the validated hyper-parameters
    gamma: float

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        super().__init__(optimizer, step_size=step_size, gamma=gamma)

    def _validate(self, base_lr, step_size, gamma):
        return {"step_size": check_int("step_size", step_size, 1),
                "gamma": check_real("gamma", gamma, low=0.0)}

    def lr_at(self, n: int) -> float:
        return self.base_lr * self.gamma ** (n // self.step_size)


class ExponentialLR(_ClosedForm):
    """Decay by ``gamma`` every step, as ``torch.optim.lr_scheduler.ExponentialLR``::

        lr(n) = base_lr * gamma ** n

    Args:
        optimizer: an lstmx optimizer; its ``lr`` at construction is ``base_lr``.
        gamma: multiplicative factor (>= 0).
    """

    hyper_names = ("gamma",)
    gamma: float  # set from the validated hyper-parameters

    def __init__(self, optimizer: Optimizer, gamma: float) -> None:
        super().__init__(optimizer, gamma=gamma)

    def _validate(self, base_lr, gamma):
        return {"gamma": check_real("gamma", gamma, low=0.0)}

    def lr_at(self, n: int) -> float:
        return self.base_lr * self.gamma ** n


class CosineWarmupLR(_ClosedForm):
    """Linear warm-up, then cosine decay to ``min_lr``. With ``W = warmup_steps``,
    ``T = total_steps`` and ``n`` the number of ``step()`` calls so far::

        lr(n) = base_lr * (n + 1) / W                                  n < W
        lr(n) = min_lr + (base_lr - min_lr) * (1 + cos(pi * (n - W) / (T - W))) / 2
                                                                       W <= n < T
        lr(n) = min_lr                                                 n >= T

    So the first step uses ``base_lr / W``, step ``W - 1`` reaches ``base_lr``, step ``W``
    starts the cosine at ``base_lr``, and ``min_lr`` is reached at ``n = T``.
    ``warmup_steps=0`` is a plain cosine decay.

    Args:
        optimizer: an lstmx optimizer; its ``lr`` at construction is ``base_lr``.
        warmup_steps: length of the warm-up (>= 0, <= total_steps).
        total_steps: steps until ``min_lr`` (>= 1).
        min_lr: final learning rate (>= 0, <= base_lr).
    """

    hyper_names = ("warmup_steps", "total_steps", "min_lr")
    warmup_steps: int  # set from the validated hyper-parameters
    total_steps: int
    min_lr: float

    def __init__(self, optimizer: Optimizer, warmup_steps: int, total_steps: int,
                 min_lr: float = 0.0) -> None:
        super().__init__(optimizer, warmup_steps=warmup_steps, total_steps=total_steps,
                         min_lr=min_lr)

    def _validate(self, base_lr, warmup_steps, total_steps, min_lr):
        total_steps = check_int("total_steps", total_steps, 1)
        warmup_steps = check_int("warmup_steps", warmup_steps, 0)
        if warmup_steps > total_steps:
            raise ValueError(f"warmup_steps={warmup_steps} exceeds total_steps={total_steps}")
        min_lr = check_real("min_lr", min_lr, low=0.0)
        if min_lr > base_lr:
            raise ValueError(f"min_lr={min_lr} exceeds the optimizer's lr={base_lr}")
        return {"warmup_steps": warmup_steps, "total_steps": total_steps, "min_lr": min_lr}

    def lr_at(self, n: int) -> float:
        w, t = self.warmup_steps, self.total_steps
        if n < w:
            return self.base_lr * (n + 1) / w
        if n >= t:
            return self.min_lr
        progress = (n - w) / (t - w)
        cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
        return self.min_lr + (self.base_lr - self.min_lr) * cosine


class ReduceLROnPlateau(_Schedule):
    """Cut the learning rate when a metric stops improving, as
    ``torch.optim.lr_scheduler.ReduceLROnPlateau``.

    ``step(metric)`` counts a step as *bad* unless the metric beats the best so far by the
    threshold (mode ``"min"``: ``metric < best * (1 - threshold)`` for ``"rel"``,
    ``metric < best - threshold`` for ``"abs"``; mirrored for ``"max"``). After more than
    ``patience`` bad steps in a row::

        lr <- max(lr * factor, min_lr)        (skipped if the change is <= eps)

    and ``cooldown`` steps follow in which bad steps are not counted.

    Args:
        optimizer: an lstmx optimizer (its ``lr`` is left alone until a reduction).
        mode: ``"min"`` (a loss) or ``"max"`` (an accuracy).
        factor: multiplicative cut, in [0, 1).
        patience: bad steps tolerated before a cut (>= 0).
        threshold: required improvement (>= 0).
        min_lr: lower bound of the learning rate (>= 0).
        threshold_mode: ``"rel"`` or ``"abs"``.
        cooldown: steps without counting after a cut (>= 0).
        eps: smallest change of lr worth making (>= 0).
    """

    hyper_names = ("mode", "factor", "patience", "threshold", "min_lr", "threshold_mode",
                   "cooldown", "eps")
    counter_names = ("last_step", "best", "num_bad_steps", "cooldown_counter")
    mode: str  # set from the validated hyper-parameters
    factor: float
    patience: int
    threshold: float
    min_lr: float
    threshold_mode: str
    cooldown: int
    eps: float

    def __init__(self, optimizer: Optimizer, mode: str = "min", factor: float = 0.1,
                 patience: int = 10, threshold: float = 1e-4, min_lr: float = 0.0,
                 threshold_mode: str = "rel", cooldown: int = 0, eps: float = 1e-8) -> None:
        super().__init__(optimizer, mode=mode, factor=factor, patience=patience,
                         threshold=threshold, min_lr=min_lr, threshold_mode=threshold_mode,
                         cooldown=cooldown, eps=eps)
        self.best = math.inf if self.mode == "min" else -math.inf
        self.num_bad_steps = 0
        self.cooldown_counter = 0

    def _validate(self, base_lr, mode, factor, patience, threshold, min_lr, threshold_mode,
                  cooldown, eps):
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}")
        return {"mode": mode, "threshold_mode": threshold_mode,
                "factor": check_real("factor", factor, low=0.0, high=1.0, high_open=True),
                "patience": check_int("patience", patience, 0),
                "threshold": check_real("threshold", threshold, low=0.0),
                "min_lr": check_real("min_lr", min_lr, low=0.0),
                "cooldown": check_int("cooldown", cooldown, 0),
                "eps": check_real("eps", eps, low=0.0)}

    def _check_counters(self, d):
        best = d["best"]
        if isinstance(best, bool) or not isinstance(best, (int, float)):
            raise TypeError(f"best must be a number, got {type(best).__name__}")
        return {"last_step": check_int("last_step", d["last_step"], 0),
                "best": float(best),
                "num_bad_steps": check_int("num_bad_steps", d["num_bad_steps"], 0),
                "cooldown_counter": check_int("cooldown_counter", d["cooldown_counter"], 0)}

    def _is_better(self, value):
        if self.mode == "min":
            bar = self.best * (1.0 - self.threshold) if self.threshold_mode == "rel" \
                else self.best - self.threshold
            return value < bar
        bar = self.best * (1.0 + self.threshold) if self.threshold_mode == "rel" \
            else self.best + self.threshold
        return value > bar

    def step(self, metric: float) -> None:
        """Record ``metric`` (a float, e.g. the validation loss) and cut lr if it plateaus."""
        try:
            value = float(metric)
        except (TypeError, ValueError):
            raise TypeError(f"metric must be a number, got {type(metric).__name__}") from None
        self.last_step += 1
        if self._is_better(value):
            self.best = value
            self.num_bad_steps = 0
        else:
            self.num_bad_steps += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_steps = 0
        if self.num_bad_steps > self.patience:
            old = self.optimizer.lr
            new = max(old * self.factor, self.min_lr)
            if old - new > self.eps:
                self.optimizer.lr = new
            self.cooldown_counter = self.cooldown
            self.num_bad_steps = 0
