"""Trainer: the loop around forward, loss, backward, clipping, the optimizer and the schedule.

One training step (the batch protocol)::

    batch = (inputs, targets) or (inputs, targets, mask)
    out = model(*inputs)                    # inputs: an array, or a tuple of positional args
    value = loss.forward(out, targets[, mask])
    model.backward(loss.backward())
    clip_grad_norm(model.parameters(), clip_norm)     # when clip_norm is set
    optimizer.step(); model.zero_grad()

A model that needs something else defines ``train_step(batch, loss) -> (loss_value,
num_tokens)`` (forward and backward, no optimizer step) and, for validation,
``eval_step(batch, loss) -> (loss_value, num_tokens)``; the Trainer calls them when present.

Per epoch: a progress bar (tqdm: running loss, tokens/s, ETA), validation (loss and
``metrics``), the schedule, early stopping, a checkpoint, and a record appended to
``history``. Example::

    >>> trainer = Trainer(model, Adam(model.parameters(), lr=1e-3), MSELoss(), clip_norm=1.0,
    ...                   early_stopping=EarlyStopping("val_loss", patience=3),
    ...                   checkpoint_path="run.npz")
    >>> history = trainer.fit(train_batches, val_batches, epochs=20)
    >>> history[-1]["val_loss"]

Resuming: build the same model, optimizer and schedule, then ``trainer.resume("run.npz")``
and ``fit(..., epochs=20)`` again: it trains the remaining epochs and ends with exactly the
parameters of an uninterrupted run (same seeds, same batches per epoch).

Under MPI (``mpiexec -n N``, ``lstmx.distributed``) the same script trains data-parallel:
rank r takes the epoch's batches whose index modulo N is r (or its ``shard(r, N)`` when the
epoch's batches split themselves, e.g. the rows of ``BPTTBatches``), and each step is::

    value, n_r = forward/backward of rank r's batch       (none at the epoch's last step:
                                                           n_r = 0, zero gradients)
    grad = Σ_r n_r grad_r / Σ_r n_r                        (one all-reduce of one buffer)
    clip_grad_norm(...); optimizer.step()                  (identical on every rank)

the step of one process on the union of the N batches, for a loss that is a mean over
tokens. Training and validation losses are reduced over the ranks, metrics run on rank 0
over all validation batches and are broadcast, so early stopping and schedules decide alike;
only rank 0 shows progress, prints and writes checkpoints.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm import tqdm

from .. import distributed as dist
from ..heap import keep_freed_memory
from ..nn.module import Module
from ..optim import ReduceLROnPlateau, clip_grad_norm
from ..optim.base import Optimizer
from .checkpoint import load_checkpoint, save_checkpoint
from ..threads import one_numpy_blas_thread

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["Trainer", "EarlyStopping"]

# batches for one epoch: an iterable of batches, or ``epoch -> iterable of batches``
Batches = Iterable[Any] | Callable[[int], Iterable[Any]]


class EarlyStopping:
    """Stop training when ``monitor`` has not improved for ``patience`` epochs.

    Args:
        monitor: "val_loss", "train_loss" or the name of a validation metric.
        mode: "min" (lower is better) or "max".
        patience: epochs without improvement before stopping (>= 1).
        min_delta: an improvement must beat the best value by more than this.
        restore_best: keep a copy of the parameters of the best epoch and load them into
            the model when ``fit`` ends (otherwise the last epoch's parameters stay).

    Attributes ``best``, ``best_epoch`` (1-based), ``bad_epochs``.
    """

    def __init__(self, monitor: str = "val_loss", mode: str = "min", patience: int = 5,
                 min_delta: float = 0.0, restore_best: bool = False) -> None:
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        if not isinstance(patience, (int, np.integer)) or patience < 1:
            raise ValueError(f"patience must be a positive integer, got {patience!r}")
        if min_delta < 0:
            raise ValueError(f"min_delta must be >= 0, got {min_delta!r}")
        self.monitor = str(monitor)
        self.mode = mode
        self.patience = int(patience)
        self.min_delta = float(min_delta)
        self.restore_best = bool(restore_best)
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.bad_epochs = 0

    def update(self, value: float, epoch: int) -> bool:
        """Record ``value`` of 1-based ``epoch``; True when it is a new best."""
        value = float(value)
        if self.best is None:
            better = True
        elif self.mode == "min":
            better = value < self.best - self.min_delta
        else:
            better = value > self.best + self.min_delta
        if better:
            self.best, self.best_epoch, self.bad_epochs = value, int(epoch), 0
        else:
            self.bad_epochs += 1
        return better

    @property
    def should_stop(self) -> bool:
        """True once ``patience`` epochs in a row brought no improvement."""
        return self.bad_epochs >= self.patience

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch, "bad_epochs": self.bad_epochs}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.best = state["best"]
        self.best_epoch = state["best_epoch"]
        self.bad_epochs = int(state["bad_epochs"])


def _unpack(batch):
    """(inputs tuple, targets, mask or None) of one batch."""
    if not isinstance(batch, (tuple, list)) or len(batch) not in (2, 3):
        raise TypeError("a batch must be a tuple (inputs, targets) or (inputs, targets, mask), "
                        f"got {type(batch).__name__}"
                        + (f" of length {len(batch)}" if isinstance(batch, (tuple, list)) else ""))
    inputs, targets = batch[0], batch[1]
    mask = batch[2] if len(batch) == 3 else None
    if not isinstance(inputs, tuple):
        inputs = (inputs,)
    return inputs, targets, mask


def _count_tokens(targets, mask, loss):
    """Terms of a batch's mean loss: the loss's ``num_tokens`` after its forward (lstmx
    losses set it); else the mask's True entries; else one per class id (integer targets)
    or per target vector (float targets, last axis = features)."""
    n = getattr(loss, "num_tokens", None)
    if n is not None:
        return int(n)
    if mask is not None:
        return int(np.count_nonzero(mask))
    t = np.asarray(targets)
    if t.dtype.kind in "iub" or t.ndim < 2:
        return int(t.size)
    return int(t.size // t.shape[-1])


def _rank_streams(model: Any, rank: int) -> None:
    """Give this rank its own stream in each random generator of ``model`` (dropout masks,
    sampled decoder inputs): rank r's is rank 0's jumped r times (PCG64 jumps: 2^127 draws
    apart). Otherwise every rank would draw the same masks for different data."""
    seen: set[int] = set()

    def walk(m: Any) -> None:
        if id(m) in seen:
            return
        seen.add(id(m))
        for name, value in list(vars(m).items()):
            if isinstance(value, np.random.Generator) and rank > 0:
                bits = value.bit_generator
                jumped = getattr(bits, "jumped", None)  # PCG64, MT19937, Philox
                own = (np.random.Generator(jumped(rank)) if jumped is not None
                       else np.random.default_rng([*bits.random_raw(4).tolist(), rank]))
                object.__setattr__(m, name, own)
            elif isinstance(value, Module):
                walk(value)
            elif isinstance(value, (list, tuple, dict)):
                for v in (value.values() if isinstance(value, dict) else value):
                    if isinstance(v, Module):
                        walk(v)

    walk(model)


class Trainer:
    """Fit a model with an optimizer and a loss (see the module docstring for the step).

    Args:
        model: a Module (forward/backward) or one with ``train_step``/``eval_step``.
        optimizer: an ``lstmx.optim`` optimizer over the model's parameters.
        loss: an ``lstmx.train`` loss (``forward(out, targets[, mask]) -> float``,
            ``backward() -> dout``).
        clip_norm: clip the global gradient norm to this value before each step (None: off).
        schedule: an ``lstmx.optim`` LR schedule. ``ReduceLROnPlateau`` is stepped once per
            epoch with the validation loss (the training loss without validation data); any
            other schedule is stepped after every epoch (``schedule_interval="epoch"``) or
            after every optimizer step (``"batch"``, e.g. ``CosineWarmupLR``).
        metrics: ``{"name": fn(model, val_batches) -> float}``, computed after each epoch's
            validation with the model in eval mode.
        early_stopping: an ``EarlyStopping`` (or a dict of its arguments).
        checkpoint_path: write a checkpoint there after every epoch (atomically).
        seed: seeds ``self.rng``, which shuffles list-of-batches training data each epoch.
        shuffle: shuffle the order of the batches when ``train_batches`` is a list.
        progress: show a tqdm progress bar (on stderr) and print a line per epoch (stdout);
            under MPI on rank 0 only.
        distributed: train data-parallel over the MPI ranks (see the module docstring);
            None: when launched with more than one rank (``lstmx.distributed.size() > 1``).
            Every rank must build the same trainer and call ``fit`` with the same data.

    Attributes: ``history`` (list of per-epoch dicts: ``epoch`` (1-based), ``train_loss``,
    ``val_loss`` (None without validation), ``lr`` (of the epoch's last step),
    ``tokens_per_s`` (training only), ``seconds`` (training + validation), ``metrics``);
    ``epoch`` (epochs completed); ``stopped_early``; ``best_state`` (the best epoch's
    parameters, with ``EarlyStopping(restore_best=True)``).
    """

    def __init__(self, model: Module, optimizer: Optimizer, loss: Any,
                 clip_norm: float | None = None, schedule: Any = None,
                 schedule_interval: str = "epoch",
                 metrics: Mapping[str, Callable[[Any, list[Any]], float]] | None = None,
                 early_stopping: EarlyStopping | dict[str, Any] | None = None,
                 checkpoint_path: str | os.PathLike[str] | None = None, seed: int | None = 0,
                 shuffle: bool = True, progress: bool = True,
                 distributed: bool | None = None) -> None:
        if clip_norm is not None and not clip_norm > 0:
            raise ValueError(f"clip_norm must be positive or None, got {clip_norm!r}")
        if schedule_interval not in ("epoch", "batch"):
            raise ValueError(f"schedule_interval must be 'epoch' or 'batch', "
                             f"got {schedule_interval!r}")
        if isinstance(schedule, ReduceLROnPlateau) and schedule_interval != "epoch":
            raise ValueError("ReduceLROnPlateau is stepped once per epoch with the validation "
                             "loss; use schedule_interval='epoch'")
        if isinstance(early_stopping, dict):
            early_stopping = EarlyStopping(**early_stopping)
        if early_stopping is not None and not isinstance(early_stopping, EarlyStopping):
            raise TypeError("early_stopping must be an EarlyStopping, a dict of its arguments "
                            f"or None, got {type(early_stopping).__name__}")
        metrics = dict(metrics or {})
        for name, fn in metrics.items():
            if not callable(fn):
                raise TypeError(f"metrics[{name!r}] must be a function fn(model, batches)")
        self.model = model
        self.optimizer = optimizer
        self.loss = loss
        self.clip_norm = clip_norm
        self.schedule = schedule
        self.schedule_interval = schedule_interval
        self.metrics = metrics
        self.early_stopping = early_stopping
        self.checkpoint_path = checkpoint_path
        self.rng = np.random.default_rng(seed)
        self.shuffle = bool(shuffle)
        if distributed not in (None, True, False):
            raise TypeError(f"distributed must be None, True or False, got {distributed!r}")
        self.distributed = dist.is_distributed() if distributed is None else distributed
        # this rank and the number of ranks training together (0 and 1 for one process)
        self.rank, self.ranks = (dist.rank(), dist.size()) if self.distributed else (0, 1)
        self.progress = bool(progress) and self.rank == 0
        self.epoch = 0
        self.history: list[dict[str, Any]] = []
        self.stopped_early = False
        self.best_state: Mapping[str, np.ndarray] | None = None

    # -- one epoch ---------------------------------------------------------------------

    def _epoch_batches(self, batches, epoch):
        """The batches of one epoch: ``batches(epoch)`` for a callable; a list/tuple in an
        order shuffled by ``self.rng`` (with ``shuffle``); another iterable as it is."""
        if callable(batches):
            return batches(epoch)
        if self.shuffle and isinstance(batches, (list, tuple)):
            return [batches[i] for i in self.rng.permutation(len(batches))]
        return batches

    def _train_step(self, batch):
        train_step = getattr(self.model, "train_step", None)
        if train_step is not None:
            value, tokens = train_step(batch, self.loss)
            return float(value), int(tokens)
        inputs, targets, mask = _unpack(batch)
        out = self.model(*inputs)
        value = (self.loss.forward(out, targets) if mask is None
                 else self.loss.forward(out, targets, mask))
        self.model.backward(self.loss.backward())
        return float(value), _count_tokens(targets, mask, self.loss)

    def _rank_batches(self, batches):
        """(this rank's batch at each step, or None when it has none; the step count or
        None). One process: the batches as they are."""
        total = len(batches) if hasattr(batches, "__len__") else None
        n, r = self.ranks, self.rank
        if n == 1:
            return batches, total
        shard = getattr(batches, "shard", None)
        if shard is not None:
            mine = shard(r, n)
            lengths = dist.allreduce_sum(np.eye(n)[r] * len(mine)).astype(int)
            if len(set(lengths.tolist())) > 1:
                raise ValueError("the ranks' shards of the epoch's batches have "
                                 f"{lengths.tolist()} steps; every rank needs the same number")
            return mine, len(mine)

        def by_index():
            # every rank reads every batch, in the same order: batch i is rank (i mod N)'s
            it = iter(batches)
            while group := list(itertools.islice(it, n)):
                yield group[r] if r < len(group) else None
        return by_index(), None if total is None else -(-total // n)

    def _train_epoch(self, batches, epoch, epochs):
        """Train on one epoch's batches; returns (mean loss per token, tokens, lr, seconds),
        the loss and the tokens summed over the ranks."""
        self.model.train()
        self.model.zero_grad()
        params = self.model.parameters()
        batches, total = self._rank_batches(batches)
        bar = tqdm(total=total, desc=f"epoch {epoch + 1}/{epochs}", unit="batch",
                   disable=not self.progress, leave=False, dynamic_ncols=True)
        loss_sum, tokens, lr = 0.0, 0, self.optimizer.lr
        start = time.perf_counter()
        try:
            for i, batch in enumerate(batches):
                if self.ranks == 1:
                    value, n = self._checked_step(batch, epoch, i)
                else:
                    value, n = self._distributed_step(batch, epoch, i, params)
                if self.clip_norm is not None:
                    clip_grad_norm(params, self.clip_norm)
                lr = self.optimizer.lr
                self.optimizer.step()
                self.model.zero_grad()
                if self.schedule is not None and self.schedule_interval == "batch":
                    self.schedule.step()
                loss_sum += value * n
                tokens += n
                elapsed = time.perf_counter() - start
                bar.set_postfix(loss=f"{loss_sum / max(tokens, 1):.4f}",
                                tok_s=f"{tokens / max(elapsed, 1e-9):,.0f}", refresh=False)
                bar.update()
            bar.refresh()   # the epoch's final figures, however fast it went
        finally:
            bar.close()
        seconds = time.perf_counter() - start
        if self.ranks > 1:
            loss_sum, tokens = dist.allreduce_sum([loss_sum, tokens])
            tokens = int(tokens)
        if tokens == 0:
            raise ValueError(f"epoch {epoch + 1} had no training batches (or no target tokens)")
        return loss_sum / tokens, tokens, lr, seconds

    def _checked_step(self, batch, epoch, i):
        value, n = self._train_step(batch)
        if not np.isfinite(value):
            raise FloatingPointError(f"the loss is {value} at epoch {epoch + 1}, batch "
                                     f"{i}; lower the learning rate or set clip_norm")
        return value, n

    def _distributed_step(self, batch, epoch, i, params):
        """This rank's forward/backward (none without a batch), then the gradients of the
        union of the ranks' batches on every rank; a step that raised on any rank raises
        ``RankFailure`` on all."""
        value, n, error = 0.0, 0, None
        if batch is not None:
            try:
                value, n = self._checked_step(batch, epoch, i)
            except Exception as e:  # every rank must learn of it in this step's collective
                error = e
        dist.allreduce_gradients(params, n, error=error,
                                 where=f"at epoch {epoch + 1}, step {i}")
        return value, n

    # -- validation --------------------------------------------------------------------

    @one_numpy_blas_thread
    def evaluate(self, batches: Batches) -> dict[str, float | None]:
        """Mean loss per token over ``batches`` (model in eval mode) and every metric:
        ``{"loss": float, "<metric>": float, ...}``. The model is back in training mode
        afterwards.

        Under MPI every rank must call it: each evaluates its share of the batches (as in
        training), the loss sums are reduced, and the metrics (which need not be sums, e.g.
        BLEU) run on rank 0 over all the batches; every rank returns the same dict."""
        if callable(batches):
            batches = batches(self.epoch)
        shard = getattr(batches, "shard", None) if self.ranks > 1 else None
        mine = None if shard is None else list(shard(self.rank, self.ranks))
        batches = list(batches)
        if mine is None:
            mine = batches[self.rank::self.ranks]
        self.model.eval()
        try:
            if self.ranks == 1:
                loss_sum, tokens = self._loss_sum(mine)
            else:
                error, loss_sum, tokens = None, 0.0, 0
                try:
                    loss_sum, tokens = self._loss_sum(mine)
                except Exception as e:
                    error = e
                loss_sum, tokens = dist.allreduce_sum([loss_sum, tokens], error=error,
                                                      where="in validation")
            result: dict[str, float | None] = {"loss": loss_sum / tokens if tokens else None}
            result.update(self._metrics(batches))
        finally:
            self.model.train()
        return result

    def _loss_sum(self, batches):
        """(Σ loss · tokens, Σ tokens) over ``batches``."""
        loss_sum, tokens = 0.0, 0
        eval_step = getattr(self.model, "eval_step", None)
        for batch in batches:
            if eval_step is not None:
                value, n = eval_step(batch, self.loss)
            else:
                inputs, targets, mask = _unpack(batch)
                out = self.model(*inputs)
                value = (self.loss.forward(out, targets) if mask is None
                         else self.loss.forward(out, targets, mask))
                n = _count_tokens(targets, mask, self.loss)
            loss_sum += float(value) * n
            tokens += int(n)
        return loss_sum, tokens

    def _metrics(self, batches):
        """Every metric over all ``batches``: here, or on rank 0 and broadcast."""
        if not self.metrics:
            return {}
        if self.ranks == 1:
            return {name: float(fn(self.model, batches)) for name, fn in self.metrics.items()}
        values, error = None, None
        if self.rank == 0:
            try:
                values = {name: float(fn(self.model, batches))
                          for name, fn in self.metrics.items()}
            except Exception as e:
                error = e
        return dist.broadcast_object(values, error=error, where="computing the metrics")

    # -- after each epoch --------------------------------------------------------------

    def _monitored(self, record, name):
        if name in ("train_loss", "val_loss"):
            value = record[name]
        else:
            value = record["metrics"].get(name)
        if value is None:
            have = ["train_loss"] + (["val_loss"] if record["val_loss"] is not None else [])
            raise ValueError(f"cannot monitor {name!r}: this epoch has "
                             f"{have + sorted(record['metrics'])} (validation metrics need "
                             "val_batches)")
        return value

    def _end_of_epoch(self, record):
        """Schedule step, early stopping and best parameters after ``record``'s epoch."""
        if self.schedule is not None:
            if isinstance(self.schedule, ReduceLROnPlateau):
                key = "val_loss" if record["val_loss"] is not None else "train_loss"
                self.schedule.step(record[key])
            elif self.schedule_interval == "epoch":
                self.schedule.step()
        es = self.early_stopping
        if es is not None:
            improved = es.update(self._monitored(record, es.monitor), record["epoch"])
            if improved and es.restore_best:
                self.best_state = self.model.state_dict()
            self.stopped_early = es.should_stop

    def _report(self, record):
        parts = [f"epoch {record['epoch']}", f"train_loss {record['train_loss']:.4f}"]
        if record["val_loss"] is not None:
            parts.append(f"val_loss {record['val_loss']:.4f}")
        parts += [f"{k} {v:.4g}" for k, v in record["metrics"].items()]
        parts += [f"lr {record['lr']:.3g}", f"{record['tokens_per_s']:,.0f} tok/s",
                  f"{record['seconds']:.1f} s"]
        tqdm.write("  ".join(parts))

    # -- the loop ----------------------------------------------------------------------

    @one_numpy_blas_thread
    def fit(self, train_batches: Batches, val_batches: Batches | None = None,
            epochs: int = 1) -> list[dict[str, Any]]:
        """Train until ``epochs`` epochs are complete (counting epochs done before a
        ``resume``), or until early stopping; returns ``history``.

        ``train_batches``: a list of batches (shuffled each epoch with ``self.rng`` when
        ``shuffle``), a callable ``epoch -> iterable of batches`` (epoch 0-based; for an
        exact resume it must give the same batches for the same epoch), or a re-iterable.
        ``val_batches``: a list, a callable ``epoch -> iterable``, or None (no validation).
        """
        if not isinstance(epochs, (int, np.integer)) or epochs < 1:
            raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
        keep_freed_memory()  # every step allocates the same large arrays (lstmx.heap)
        if (not callable(train_batches) and iter(train_batches) is train_batches
                and epochs - self.epoch > 1):
            raise TypeError("train_batches is a one-shot iterator; pass a list or a callable "
                            "epoch -> batches to train more than one epoch")
        if self.ranks > 1:  # every rank starts from rank 0's parameters and batch order
            dist.broadcast_parameters(self.model.parameters())
            self.rng.bit_generator.state = dist.broadcast_object(self.rng.bit_generator.state)
            _rank_streams(self.model, self.rank)
        for epoch in range(self.epoch, epochs):
            if self.stopped_early:
                break
            start = time.perf_counter()
            batches = self._epoch_batches(train_batches, epoch)
            train_loss, tokens, lr, train_seconds = self._train_epoch(batches, epoch, epochs)
            record = {"epoch": epoch + 1, "train_loss": train_loss, "val_loss": None, "lr": lr,
                      "tokens_per_s": tokens / max(train_seconds, 1e-9), "seconds": None,
                      "metrics": {}}
            if val_batches is not None:
                val = self.evaluate(val_batches(epoch) if callable(val_batches) else val_batches)
                record["val_loss"] = val.pop("loss")
                record["metrics"] = val
            self._end_of_epoch(record)
            record["seconds"] = time.perf_counter() - start
            self.history.append(record)
            self.epoch = epoch + 1
            if self.checkpoint_path is not None:
                self.save(self.checkpoint_path)
            if self.progress:
                self._report(record)
        es = self.early_stopping
        if es is not None and es.restore_best and self.best_state is not None:
            self.model.load_state_dict(self.best_state)
        return self.history

    # -- checkpoints -------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str]) -> str:
        """Write a checkpoint with everything ``resume`` needs: model (config, parameters,
        generators), optimizer, schedule, this trainer's epoch, history, generator,
        early-stopping state and best parameters; returns its path. Under MPI only rank 0
        writes (the ranks hold the same state; the checkpoint holds nothing of a rank's own,
        so it resumes on any number of ranks)."""
        if self.rank != 0:
            return os.fspath(path)
        es = self.early_stopping
        trainer = {
            "epoch": self.epoch,
            "history": self.history,
            "rng": self.rng.bit_generator.state,
            "early_stopping": None if es is None else es.state_dict(),
            "best_state": None if self.best_state is None else dict(self.best_state),
            "stopped_early": self.stopped_early,
        }
        return save_checkpoint(path, self.model, self.optimizer, self.schedule,
                               extra={"trainer": trainer})

    def resume(self, path: str | os.PathLike[str]) -> Self:
        """Load a checkpoint written by ``save`` (or during ``fit``) into this trainer's
        model, optimizer and schedule, and restore the trainer's own state; returns self.

        The model must have the checkpoint's architecture (ValueError naming the file and the
        mismatch otherwise). Call ``fit`` with the same total ``epochs`` to continue.

        Under MPI every rank reads ``path`` (a shared filesystem, or a copy at that path on
        every host); the number of ranks may differ from the run that wrote it.
        """
        ckpt = load_checkpoint(path)
        ckpt.check_model(self.model)
        state = ckpt.extra.get("trainer") if isinstance(ckpt.extra, dict) else None
        if state is None:
            raise ValueError(f"{ckpt.path} was not written by a Trainer (no trainer state); "
                             "use load_checkpoint(path).restore(model) to load the weights")
        if (self.early_stopping is None) != (state["early_stopping"] is None):
            raise ValueError(f"{ckpt.path}: early stopping was "
                             f"{'off' if state['early_stopping'] is None else 'on'} in the "
                             "saved run; configure this trainer the same way")
        if self.schedule is None and ckpt.schedule is not None:
            raise ValueError(f"{ckpt.path}: the saved run had an LR schedule "
                             f"({ckpt.schedule.get('type', 'unknown type')}); pass the same "
                             "schedule to this trainer")
        keys = ("epoch", "history", "rng", "early_stopping", "best_state", "stopped_early")
        missing = [k for k in keys if k not in state]
        if missing:
            raise ValueError(f"{ckpt.path} is a damaged Trainer checkpoint: trainer state "
                             f"lacks {missing}")
        before = (self.epoch, self.history, self.rng.bit_generator.state, self.best_state,
                  self.stopped_early,
                  None if self.early_stopping is None else self.early_stopping.state_dict())

        def trainer_state():
            try:
                self.epoch = int(state["epoch"])
                self.history = list(state["history"])
                self.rng.bit_generator.state = state["rng"]
                if self.early_stopping is not None:
                    self.early_stopping.load_state_dict(state["early_stopping"])
                self.best_state = state["best_state"]
                self.stopped_early = bool(state["stopped_early"])
            except BaseException:
                (self.epoch, self.history, self.rng.bit_generator.state, self.best_state,
                 self.stopped_early, stopping) = before
                if stopping is not None:
                    self.early_stopping.load_state_dict(stopping)
                raise

        # all or nothing: the model, optimizer, schedule and this trainer's own state
        ckpt.restore(self.model, self.optimizer, self.schedule, then=trainer_state)
        return self
