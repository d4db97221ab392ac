"""Optimizers, gradient clipping and learning-rate schedules, in place on Parameters.

    >>> import numpy as np
    >>> from lstmx.nn import Parameter
    >>> from lstmx.optim import Adam, clip_grad_norm, CosineWarmupLR
    >>> w = Parameter(np.ones((2, 3), np.float32))
    >>> opt = Adam([w], lr=1e-2)
    >>> sched = CosineWarmupLR(opt, warmup_steps=10, total_steps=100)
    >>> w.grad[:] = 0.5
    >>> norm = clip_grad_norm([w], max_norm=1.0); opt.step(); sched.step(); opt.zero_grad()

Every optimizer matches its ``torch.optim`` namesake step for step (single parameter group).
"""

from .adam import Adam, AdamW
from .base import Optimizer
from .clip import clip_grad_norm, clip_grad_value
from .rmsprop import RMSprop
from .schedules import CosineWarmupLR, ExponentialLR, ReduceLROnPlateau, StepLR
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "RMSprop", "Adam", "AdamW", "clip_grad_norm", "clip_grad_value",
           "StepLR", "ExponentialLR", "CosineWarmupLR", "ReduceLROnPlateau"]
