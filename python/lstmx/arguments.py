"""Argument types and help layout shared by the ``lstmx`` subcommands, and what they do with
the models a command line names (``--quantize``, ``--resume``).

Every value is checked while the command line is parsed, so a bad one is refused before any
work starts, as argparse does: one line ``lstmx <command>: error: argument --x: ...`` and exit
status 2.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from .nn.quantized import quantize, quantized_dtype


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Descriptions and epilogs as written; every option's help ends with its default (an
    option without one says in its help what happens when it is not given)."""

    def _get_help_string(self, action):
        if action.default in (None, False):
            return action.help
        return super()._get_help_string(action)


def _number(kind, text, low, low_ok, high=None):
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected {'an integer' if kind is int else 'a number'}, got {text!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    if value < low or (value == low and not low_ok) or (high is not None and value > high):
        bound = f">= {low}" if low_ok else f"> {low}"
        if high is not None:
            bound += f" and <= {high}"
        raise argparse.ArgumentTypeError(f"must be {bound}, got {text}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1."""
    return _number(int, text, 1, True)


def nonnegative_int(text: str) -> int:
    """An integer >= 0."""
    return _number(int, text, 0, True)


def positive_float(text: str) -> float:
    """A finite number > 0."""
    return _number(float, text, 0.0, False)


def nonnegative_float(text: str) -> float:
    """A finite number >= 0."""
    return _number(float, text, 0.0, True)


def fraction(text: str) -> float:
    """A number in [0, 1)."""
    value = _number(float, text, 0.0, True, 1.0)
    if value == 1.0:
        raise argparse.ArgumentTypeError(f"must be >= 0.0 and < 1.0, got {text}")
    return value


def thread_count(text: str) -> int:
    """1 .. 64 threads per CPU (set_num_threads' limit)."""
    from .threads import MAX_THREADS_PER_CPU
    return _number(int, text, 1, True, MAX_THREADS_PER_CPU * (os.cpu_count() or 1))


def input_file(text: str) -> str:
    """The path of a readable regular file."""
    if not os.path.exists(text):
        raise argparse.ArgumentTypeError(f"no such file: {text}")
    if os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text} is a directory, expected a file")
    if not os.access(text, os.R_OK):
        raise argparse.ArgumentTypeError(f"{text} is not readable")
    return text


def read_utf8_text(path: str) -> str:
    """The whole file as text; ValueError naming it when it is not UTF-8 text (a binary
    file would otherwise be read as mojibake)."""
    with open(path, "rb") as f:
        data = f.read()
    if b"\0" in data[:65536]:
        raise ValueError(f"{path} looks like a binary file (it holds NUL bytes), expected text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{path} is not UTF-8 text (byte {e.start}: "
                         f"{data[e.start:e.start + 1]!r})") from None


def hidden_alias(parser, old: str, new: str, **kwargs) -> None:
    """Accept ``old`` as an undocumented spelling of the option ``new``."""
    parser.add_argument(old, dest=new.lstrip("-").replace("-", "_"), help=argparse.SUPPRESS,
                        default=argparse.SUPPRESS, **kwargs)


def command_line(argv: list[str], drop: str, *extra: str) -> str:
    """``lstmx ARGV... EXTRA...`` as a shell command, without the option ``drop`` and its
    value (``--opt VALUE`` or ``--opt=VALUE``): how to repeat a run with one change."""
    import shlex
    kept, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == drop:
            skip = True
        elif not a.startswith(drop + "="):
            kept.append(a)
    return " ".join(["lstmx", *map(shlex.quote, [*kept, *extra])])


def quantized(model: Any, dtype: str | None) -> Any:
    """``model`` quantized to ``dtype`` for inference (``--quantize``; None: as it is). A
    checkpoint saved quantized to ``dtype`` already is used as it is; to another, ValueError."""
    if dtype is None or quantized_dtype(model) == dtype:
        return model
    return quantize(model, dtype)


def trainable(model: Any, path: str, parser: argparse.ArgumentParser) -> Any:
    """``model`` (read from ``path`` for ``--resume``) in training mode; a quantized one is
    refused with ``parser.error``: it is for inference only."""
    dtype = quantized_dtype(model)
    if dtype is not None:
        parser.error(f"{path} holds a model quantized to {dtype}, for inference only; "
                     "training resumes from a float32 checkpoint")
    return model.train()
