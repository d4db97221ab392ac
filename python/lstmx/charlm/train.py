"""Train a CharLM for a fixed wall-clock budget with ``lstmx.train.Trainer``.

An epoch is one pass of truncated BPTT over the training text (``BPTTBatches``, window
boundaries shifted by a seeded offset each epoch), cut short if the time is up; after
every epoch the Trainer validates (loss in nats and ``bpc``). Training stops early when the
validation loss has not improved for ``patience`` epochs (a small text is learnt by heart
long before the time is up), and the model ends with the parameters of its best epoch. With
``checkpoint_path`` a checkpoint is written after every epoch and, at the end, one of the
best epoch; ``lstmx.train.load_model`` turns it back into the CharLM.

Under MPI (``mpiexec -n N``) the N ranks read N·B streams side by side, each rank B of
them (``BPTTBatches.shard``): a step is the single-process step with batch N·B, and the
ranks agree on when the time is up.
"""

from __future__ import annotations

import math
import os
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import distributed as dist
from ..optim import Adam
from ..train.losses import CrossEntropyLoss
from ..train.deadline import UntilDeadline
from ..train.trainer import EarlyStopping, Trainer
from .dataset import BPTTBatches
from .evaluate import bpc_metric

if TYPE_CHECKING:
    from .model import CharLM

__all__ = ["split_ids", "train_for", "uniform_bpc"]


def split_ids(ids: np.ndarray, val_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """(train ids, validation ids): the last ``val_fraction`` of the stream held out."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must lie in (0, 1), got {val_fraction!r}")
    cut = int(round(len(ids) * (1.0 - val_fraction)))
    return ids[:cut], ids[cut:]


def train_for(model: CharLM, train_ids: np.ndarray, val_ids: np.ndarray, seconds: float,
              batch_size: int = 32, seq_len: int = 100, lr: float = 2e-3,
              clip_norm: float | None = 5.0, patience: int = 3,
              checkpoint_path: str | os.PathLike[str] | None = None, seed: int | None = 0,
              progress: bool = True, epochs: int | None = None,
              resume: str | os.PathLike[str] | None = None,
              distributed: bool | None = None) -> Trainer:
    """Train ``model`` (a ``CharLM``) with Adam for ``epochs`` epochs (None: no limit), or
    until ``seconds`` of wall-clock time have passed. With ``epochs`` and a seed the result
    is reproducible when the time does not run out first; the history record of an epoch the
    time cut short has ``"cut": True``.

    Args:
        train_ids, val_ids: int arrays (N,) of encoded text (``CharVocab.encode``).
        seconds: the training budget; the epoch running when it ends stops at the next
            window, then validates.
        batch_size (B), seq_len (T): windows of ``BPTTBatches``. The validation stream uses
            fewer rows when it is too short for B rows of T steps.
        lr, clip_norm: Adam's learning rate and the global gradient-norm clip.
        patience: stop after this many epochs without a lower validation loss.
        checkpoint_path: write a checkpoint there after every epoch (None: don't).
        seed: seeds the epoch offsets and the Trainer.
        progress: progress bar and one line per epoch.
        resume: a checkpoint written through ``checkpoint_path`` to continue from.
        distributed: data-parallel over the MPI ranks (None: when launched with more than
            one); ``batch_size`` is then per rank (N ranks read N·B streams).

    Returns:
        The ``Trainer``: ``trainer.history`` has one record per epoch (``metrics["bpc"]``:
        validation bits per character), ``trainer.early_stopping.best_epoch`` (1-based) is
        the epoch whose parameters the model holds, ``trainer.stopped_early`` says whether
        the patience ran out before the time did.
    """
    if not seconds > 0:
        raise ValueError(f"seconds must be positive, got {seconds!r}")
    synchronized = distributed is not False and dist.is_distributed()
    rows = batch_size * (dist.size() if synchronized else 1)
    val_rows = max(1, min(batch_size, (len(val_ids) - 1) // seq_len))
    val = BPTTBatches(val_ids, val_rows, seq_len)
    trainer = Trainer(model, Adam(model.parameters(), lr=lr), CrossEntropyLoss(),
                      clip_norm=clip_norm, metrics={"bpc": bpc_metric},
                      early_stopping=EarlyStopping("val_loss", patience=patience),
                      checkpoint_path=checkpoint_path, seed=seed, progress=progress,
                      distributed=synchronized)
    assert trainer.early_stopping is not None  # given just above
    if resume is not None:
        trainer.resume(resume)
    rng = np.random.default_rng(seed)
    offsets: list[int] = []
    # an offset skips characters at the start; keep at least one step per row after it
    max_offset = min(seq_len, len(train_ids) - rows)
    deadline = time.perf_counter() + seconds

    def time_left():
        left = time.perf_counter() < deadline
        return not dist.any_rank(not left) if synchronized else left

    def epoch_windows(epoch):
        while len(offsets) <= epoch:
            offsets.append(int(rng.integers(max_offset)) if max_offset > 1 else 0)
        timed.append(UntilDeadline(BPTTBatches(train_ids, rows, seq_len, offsets[epoch]),
                                   deadline, synchronized))
        return timed[-1]

    timed: list[UntilDeadline] = []
    # the parameters of the best epoch so far (after a resume: the current ones, when the
    # last saved epoch was the best; otherwise the trainer's own record of them, if any)
    best_state: Any = (model.state_dict() if trainer.early_stopping.best_epoch == trainer.epoch
                       else trainer.best_state)
    while (not trainer.stopped_early and (epochs is None or trainer.epoch < epochs)
           and time_left()):
        trainer.fit(epoch_windows, val, epochs=trainer.epoch + 1)
        if timed[-1].cut:
            trainer.history[-1]["cut"] = True
        if trainer.early_stopping.best_epoch == trainer.epoch:
            best_state = model.state_dict()
    if trainer.early_stopping.best_epoch != trainer.epoch and best_state is not None:
        model.load_state_dict(best_state)
        if checkpoint_path is not None:
            trainer.save(checkpoint_path)
    return trainer


def uniform_bpc(vocab_size: int) -> float:
    """Bits per character of a model that guesses uniformly among ``vocab_size``: the
    score to beat."""
    return math.log2(vocab_size)
