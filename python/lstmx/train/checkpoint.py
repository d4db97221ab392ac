"""Checkpoints: a model, its optimizer, schedule and random generators in ONE ``.npz`` file.

File layout (a plain NumPy ``.npz``, read with ``allow_pickle=False``):

``header``
    a uint8 array holding UTF-8 JSON: ``{"format": "lstmx-checkpoint", "version": 1,
    "model": {"class", "module", "config"}, "quantization", "parameters", "optimizer",
    "schedule", "rng", "extra"}``. Every numpy array inside those trees is replaced by
    ``{"__ndarray__": key}``. ``quantization`` is None for a float model, "int8" or
    "bfloat16" for one made by ``lstmx.quantize`` (whose parameters hold the quantized
    arrays); ``load_model`` quantizes the rebuilt model alike before loading them.
``<key>``
    one entry per array, keyed by its place in the tree, e.g. ``parameters/lstm.weight_ih_l0``
    or ``optimizer/state/0.m``.

Random generators. A model's generators (dropout masks, ...) are part of what must be saved
for a run to continue exactly. ``model_rng_states(model)`` walks the model and its
sub-modules; a module that defines ``rng_states() -> {name: state}`` and
``set_rng_states(states)`` is asked for its own; otherwise every ``numpy.random.Generator``
found among its attributes is saved under ``"<module path>.<attribute>"`` as
``generator.bit_generator.state`` (e.g. ``"lstm._dropout_rng"``, ``"dropout._rng"``).

Writes are atomic: the file is written to a temporary file in the same directory, flushed to
disk and ``os.replace``-d over ``path``. A process killed during a save leaves the previous
checkpoint intact; the stray ``.<name>.*.tmp`` file it leaves is removed by the next save of
that path (saves of one path take turns on a lock file, ``.<name>.lock``). The directory is
fsynced after the rename.

Example::

    >>> save_checkpoint("run.npz", model, optimizer, extra={"epoch": 3})
    >>> ckpt = load_checkpoint("run.npz")
    >>> ckpt.restore(model, optimizer)        # ValueError if the architecture differs
    >>> ckpt.extra["epoch"]
    3
"""

from __future__ import annotations

import importlib
import json
import os
import tempfile
import time
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from ..nn.quantized import DTYPES as QUANTIZED_DTYPES
from ..nn.quantized import quantize, quantized_dtype

if TYPE_CHECKING:
    from ..nn.module import Module
    from ..optim.base import Optimizer

_M = TypeVar("_M", bound="Module")
_T = TypeVar("_T")

try:
    import fcntl
except ImportError:  # not POSIX
    fcntl = None  # type: ignore[assignment]

FORMAT = "lstmx-checkpoint"
VERSION = 1
_ARRAY = "__ndarray__"
_TUPLE = "__tuple__"

__all__ = ["Checkpoint", "save_checkpoint", "load_checkpoint", "load_model",
           "model_rng_states", "set_model_rng_states"]


# -- the JSON + arrays tree codec -----------------------------------------------------------

def _encode(obj, key, arrays):
    """JSON-able copy of ``obj``; numpy arrays go to ``arrays[key]`` and leave a reference."""
    if isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            raise TypeError(f"checkpoint entry {key!r} is an object array; only plain arrays "
                            "can be saved")
        arrays[key] = obj
        return {_ARRAY: key}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if not isinstance(k, str):
                raise TypeError(f"checkpoint entry {key!r} has a non-string key {k!r}; "
                                "use string keys so the JSON header can hold it")
            out[k] = _encode(v, f"{key}/{k}", arrays)
        return out
    if isinstance(obj, tuple):
        return {_TUPLE: [_encode(v, f"{key}/{i}", arrays) for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [_encode(v, f"{key}/{i}", arrays) for i, v in enumerate(obj)]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"checkpoint entry {key!r} has type {type(obj).__name__}; only dicts, "
                    "lists, tuples, numbers, strings, None and numpy arrays can be saved")


def _decode(obj, arrays):
    """Inverse of ``_encode``."""
    if isinstance(obj, dict):
        if set(obj) == {_ARRAY}:
            return arrays[obj[_ARRAY]]
        if set(obj) == {_TUPLE}:
            return tuple(_decode(v, arrays) for v in obj[_TUPLE])
        return {k: _decode(v, arrays) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_decode(v, arrays) for v in obj]
    return obj


# -- random generators of a model -----------------------------------------------------------

def _named_modules(module, prefix=""):
    """``(path, module)`` for the module and every registered sub-module, depth first."""
    yield prefix, module
    for name, sub in getattr(module, "_modules", {}).items():
        yield from _named_modules(sub, f"{prefix}{name}.")


def model_rng_states(model: Module) -> dict[str, Any]:
    """``{"<module path>.<name>": bit_generator.state}`` of every generator of ``model``.

    A module with a ``rng_states()`` method reports its own (``{name: state}``); otherwise
    its ``numpy.random.Generator`` attributes are collected. Sub-modules are visited too.
    """
    states: dict[str, Any] = {}
    for prefix, m in _named_modules(model):
        own = getattr(m, "rng_states", None)
        if callable(own):
            states.update((prefix + name, state) for name, state in own().items())
            continue
        for name, value in vars(m).items():
            if isinstance(value, np.random.Generator):
                states[prefix + name] = value.bit_generator.state
    return states


def _check_rng_states(model, states, source):
    have = model_rng_states(model)
    missing = sorted(set(have) - set(states))
    unexpected = sorted(set(states) - set(have))
    if missing or unexpected:
        raise ValueError(f"{source}: random generators differ from the model's: missing "
                         f"{missing}, unexpected {unexpected}")


def set_model_rng_states(model: Module, states: Mapping[str, Any],
                         source: str = "checkpoint") -> None:
    """Put saved generator states back (inverse of ``model_rng_states``).

    The model's generators and the saved ones must be the same set; a ValueError names
    ``source`` and the generators missing on either side.
    """
    _check_rng_states(model, states, source)
    for prefix, m in _named_modules(model):
        own = getattr(m, "rng_states", None)
        if callable(own):
            m.set_rng_states({name: states[prefix + name] for name in own()})
            continue
        for name, value in vars(m).items():
            if isinstance(value, np.random.Generator):
                value.bit_generator.state = states[prefix + name]


# -- writing --------------------------------------------------------------------------------

def _state_or_none(obj):
    return None if obj is None else obj.state_dict()


def save_checkpoint(path: str | os.PathLike[str], model: Module,
                    optimizer: Optimizer | None = None, schedule: Any = None,
                    extra: Any = None) -> str:
    """Write ``model`` (config, parameters, generator states), the ``optimizer`` and
    ``schedule`` states and ``extra`` (any tree of dicts/lists/numbers/strings/arrays, e.g.
    the epoch and the history) to ``path`` atomically. Returns ``path``.

    ``model.config`` (a JSON-able dict), when the model has one, is stored so that
    ``load_model(path)`` can rebuild the model with ``type(model).from_config(config)``; a
    quantized model's quantization is recorded with it.
    """
    path = os.fspath(path)
    cls = type(model)
    header: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "model": {"class": cls.__qualname__, "module": cls.__module__,
                  "config": getattr(model, "config", None)},
        "quantization": quantized_dtype(model),
    }
    arrays: dict[str, Any] = {}  # Any: the np.savez stub types allow_pickle among **kwds
    trees = {
        "parameters": OrderedDict((n, p.data) for n, p in model.named_parameters()),
        "optimizer": _state_or_none(optimizer),
        "schedule": _state_or_none(schedule),
        "rng": model_rng_states(model),
        "extra": extra,
    }
    for name, tree in trees.items():
        header[name] = _encode(tree, name, arrays)
    header["model"]["config"] = _encode(header["model"]["config"], "config", arrays)
    text = json.dumps(header, allow_nan=True)
    arrays["header"] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)

    directory = os.path.dirname(os.path.abspath(path))
    base = os.path.basename(path)
    with _save_lock(directory, base):
        _remove_stale_temporaries(directory, base)
        fd, tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)
                f.flush()
                os.fsync(f.fileno())
            # mkstemp creates the file 0600; give it the permissions a plain open() would
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        _fsync_directory(directory)  # the rename itself reaches the disk
    return path


class _save_lock:
    """An exclusive lock on ``.<name>.lock`` beside the checkpoint while it is written, so
    that the temporary files found by the next save are known to be stale (POSIX; elsewhere
    only temporaries older than an hour are taken for stale)."""

    def __init__(self, directory, base):
        self.path = os.path.join(directory, f".{base}.lock")
        self.fd = None

    def __enter__(self):
        if fcntl is not None:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)


def _remove_stale_temporaries(directory, base):
    """Delete ``.<base>.*.tmp`` files left by saves that were killed (under the lock no other
    save of this path is running)."""
    prefix, limit = f".{base}.", 0.0 if fcntl is not None else 3600.0
    now = time.time()
    for entry in os.scandir(directory):
        if entry.name.startswith(prefix) and entry.name.endswith(".tmp"):
            try:
                if now - entry.stat().st_mtime >= limit:
                    os.unlink(entry.path)
            except OSError:
                pass


def _fsync_directory(directory):
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # not possible everywhere (Windows): the file itself was fsynced
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# -- reading --------------------------------------------------------------------------------

class Checkpoint:
    """What ``load_checkpoint`` read from one file.

    Attributes: ``path``; ``model_class`` and ``model_module`` (names); ``config`` (dict or
    None); ``quantization`` (None, "int8" or "bfloat16"); ``parameters`` (``OrderedDict``
    name -> array); ``optimizer``, ``schedule`` (state dicts or None); ``rng`` (generator
    states); ``extra`` (whatever was saved).
    """

    def __init__(self, path: str, header: Mapping[str, Any],
                 arrays: Mapping[str, np.ndarray]) -> None:
        self.path = path
        model = _expect(header.get("model"), dict, "model")
        self.model_class = _expect(model.get("class"), str, "model class")
        self.model_module = _expect(model.get("module"), str, "model module")
        self.config = _expect(_decode(model.get("config"), arrays), (dict, type(None)),
                              "model config")
        self.quantization = header.get("quantization")
        if self.quantization not in (None, *QUANTIZED_DTYPES):
            raise ValueError(f"unknown quantization {self.quantization!r}")
        self.parameters = OrderedDict(_expect(_decode(header.get("parameters"), arrays), dict,
                                              "parameters"))
        for name, value in self.parameters.items():
            _expect(value, np.ndarray, f"parameter {name!r}")
        self.optimizer = _expect(_decode(header.get("optimizer"), arrays), (dict, type(None)),
                                 "optimizer state")
        self.schedule = _expect(_decode(header.get("schedule"), arrays), (dict, type(None)),
                                "schedule state")
        self.rng = _expect(_decode(header.get("rng"), arrays), dict, "generator states")
        self.extra = _decode(header.get("extra"), arrays)

    def check_model(self, model: Module) -> None:
        """Raise ValueError (naming this file) unless ``model`` has the checkpoint's class
        name, config, quantization, parameter names, shapes and dtypes."""
        problems = []
        name = type(model).__qualname__
        if name != self.model_class:
            problems.append(f"checkpoint holds a {self.model_class}, the model is a {name}")
        quantization = quantized_dtype(model)
        if quantization != self.quantization:
            problems.append(f"the checkpoint's model is {_precision(self.quantization)}, this "
                            f"one is {_precision(quantization)}")
        config = getattr(model, "config", None)
        if config is not None and self.config is not None and config != self.config:
            keys = sorted(set(config) | set(self.config))
            diff = [f"{k}: saved {self.config.get(k)!r}, model {config.get(k)!r}"
                    for k in keys if config.get(k) != self.config.get(k)]
            problems.append("config differs (" + "; ".join(diff) + ")")
        own = OrderedDict(model.named_parameters())
        missing = [k for k in own if k not in self.parameters]
        unexpected = [k for k in self.parameters if k not in own]
        if missing:
            problems.append(f"parameters missing from the checkpoint: {missing}")
        if unexpected:
            problems.append(f"parameters the model does not have: {unexpected}")
        for k, p in own.items():
            saved = self.parameters.get(k)
            if saved is None:
                continue
            if saved.shape != p.data.shape:
                problems.append(f"{k} has shape {saved.shape} in the checkpoint, "
                                f"{p.data.shape} in the model")
            elif saved.dtype != p.data.dtype:
                problems.append(f"{k} has dtype {saved.dtype} in the checkpoint, "
                                f"{p.data.dtype} in the model")
        if problems:
            raise ValueError(f"{self.path} does not match this model: " + "; ".join(problems))

    def restore(self, model: _M, optimizer: Optimizer | None = None, schedule: Any = None,
                rng: bool = True, then: Callable[[], object] | None = None) -> _M:
        """Load the parameters (and generator states, with ``rng``) into ``model`` and the
        saved states into ``optimizer`` and ``schedule``, all or nothing: the model is
        checked first (``check_model``), and if any part is refused on the way (an optimizer
        of another type, a damaged state) everything already loaded is put back as it was and
        a ValueError names this file. ``then()``, when given, runs last inside the same
        all-or-nothing step (the Trainer restores its own state there)."""
        self.check_model(model)
        if optimizer is not None and self.optimizer is None:
            raise ValueError(f"{self.path} holds no optimizer state")
        if schedule is not None and self.schedule is None:
            raise ValueError(f"{self.path} holds no schedule state")
        if rng:
            _check_rng_states(model, self.rng, self.path)
        before = _snapshot(model, optimizer, schedule, rng)
        try:
            model.load_state_dict(self.parameters)
            if optimizer is not None:
                optimizer.load_state_dict(self.optimizer)
            if schedule is not None:
                schedule.load_state_dict(self.schedule)
            if rng:
                set_model_rng_states(model, self.rng, source=self.path)
            if then is not None:
                then()
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as e:
            _put_back(before, model, optimizer, schedule, rng)
            raise ValueError(f"{self.path}: cannot restore ({type(e).__name__}: {e}); "
                             "nothing was changed") from None
        return model


def _precision(quantization):
    return "float" if quantization is None else \
        f"quantized to {quantization} (inference only)"


def _expect(value, types, what):
    if not isinstance(value, types):
        raise TypeError(f"{what} is {type(value).__name__}")
    return value


def _copy_tree(obj):
    """A deep copy of a state tree (dicts, lists, tuples, arrays, scalars)."""
    if isinstance(obj, np.ndarray):
        return obj.copy()
    if isinstance(obj, dict):
        return obj.__class__((k, _copy_tree(v)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(_copy_tree(v) for v in obj)
    return obj


def _snapshot(model, optimizer, schedule, rng):
    return {"model": _copy_tree(model.state_dict()),
            "optimizer": None if optimizer is None else _copy_tree(optimizer.state_dict()),
            "schedule": None if schedule is None else _copy_tree(schedule.state_dict()),
            "rng": _copy_tree(model_rng_states(model)) if rng else None}


def _put_back(before, model, optimizer, schedule, rng):
    model.load_state_dict(before["model"])
    if optimizer is not None:
        optimizer.load_state_dict(before["optimizer"])
    if schedule is not None:
        schedule.load_state_dict(before["schedule"])
    if rng:
        set_model_rng_states(model, before["rng"])


def load_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Read a checkpoint written by ``save_checkpoint``; returns a ``Checkpoint``.

    A file that is not an lstmx checkpoint (not an ``.npz``, truncated, no header, another
    format) raises ValueError naming the file and what is wrong with it.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no checkpoint at {path}")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not an lstmx checkpoint: not a NumPy .npz (zip) file")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        raise ValueError(f"{path} is not a readable lstmx checkpoint: {e}") from None
    if "header" not in arrays:
        raise ValueError(f"{path} is not an lstmx checkpoint: the .npz has no 'header' entry "
                         f"(entries: {sorted(arrays)[:8]})")
    try:
        header = json.loads(arrays.pop("header").tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise ValueError(f"{path} is not an lstmx checkpoint: unreadable header "
                         f"({type(e).__name__}: {e})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ValueError(f"{path} is not an lstmx checkpoint: header format is "
                         f"{header.get('format') if isinstance(header, dict) else header!r}")
    if header.get("version") != VERSION:
        raise ValueError(f"{path}: checkpoint version {header.get('version')!r} is not "
                         f"supported (this lstmx reads version {VERSION})")
    try:
        return Checkpoint(path, header, arrays)
    except KeyError as e:
        raise ValueError(f"{path} is a damaged lstmx checkpoint: missing entry {e}") from None
    except (TypeError, ValueError, AttributeError, RecursionError) as e:
        raise ValueError(f"{path} is a damaged lstmx checkpoint: {e}") from None


# The model classes load_model may rebuild, by the class name a checkpoint stores: lstmx's
# own, imported from this table only. Nothing is ever imported by a name read from a file
# (a module named there would run its top-level code); user classes join with
# register_model_class.
_MODEL_CLASSES = {
    "Seq2Seq": ("lstmx.seq2seq.model", "Seq2Seq"),
    "CharLM": ("lstmx.charlm.model", "CharLM"),
    "SequenceModel": ("lstmx.nn.sequence_model", "SequenceModel"),
}
_REGISTERED: dict[str, type] = {}


def register_model_class(cls: type[_T]) -> type[_T]:
    """Let ``load_model`` rebuild checkpoints of ``cls`` (a Module with ``config`` and a
    ``from_config`` classmethod), under its ``__qualname__``. Returns ``cls`` (usable as a
    class decorator)."""
    if not isinstance(cls, type) or not callable(getattr(cls, "from_config", None)):
        raise TypeError(f"cls must be a class with a from_config classmethod, got {cls!r}")
    _REGISTERED[cls.__qualname__] = cls
    return cls


def _model_class(path, name, module):
    if name in _REGISTERED:
        return _REGISTERED[name]
    known = _MODEL_CLASSES.get(name)
    if known is None or known[0] != module:
        allowed = sorted(set(_MODEL_CLASSES) | set(_REGISTERED))
        raise ValueError(f"{path}: model class {module}.{name} is not one load_model "
                         f"rebuilds (known: {', '.join(allowed)}; see register_model_class)")
    return getattr(importlib.import_module(known[0]), known[1])


def load_model(path: str | os.PathLike[str]) -> Module:
    """Rebuild the saved model with ``from_config(config)`` (quantized with ``lstmx.quantize``
    when it was saved quantized) and load its parameters.

    Only lstmx's model classes (and those given to ``register_model_class``) are rebuilt;
    a checkpoint naming any other class is refused before anything is imported."""
    ckpt = load_checkpoint(path)
    if ckpt.config is None:
        raise ValueError(f"{path} holds no model config; build the model yourself and call "
                         "load_checkpoint(path).restore(model)")
    cls = _model_class(path, ckpt.model_class, ckpt.model_module)
    model = cls.from_config(ckpt.config)
    if ckpt.quantization is not None:
        model = quantize(model, ckpt.quantization)
    return ckpt.restore(model)
