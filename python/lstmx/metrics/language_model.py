"""Language-model scores from a mean negative log-likelihood (natural log, per token or char).

    perplexity    = exp(mean_nll)
    bits_per_char = mean_nll / ln 2          (so perplexity = 2 ** bits_per_char)

    >>> round(perplexity(math.log(4.0)), 12), round(bits_per_char(math.log(4.0)), 12)
    (4.0, 2.0)
"""

from __future__ import annotations

import math
import numbers

__all__ = ["perplexity", "bits_per_char"]


def _check_nll(mean_nll):
    """``mean_nll`` as a float; a mean NLL of a discrete model is a real number >= 0."""
    if isinstance(mean_nll, bool) or not isinstance(mean_nll, numbers.Real):
        raise TypeError(f"mean_nll must be a real number, got {type(mean_nll).__name__}")
    value = float(mean_nll)
    if math.isnan(value) or value < 0:
        raise ValueError(f"mean_nll must be >= 0 (a mean negative log-likelihood, natural "
                         f"log), got {value!r}")
    return value


def perplexity(mean_nll: float) -> float:
    """``exp(mean_nll)`` for a mean negative log-likelihood in nats; a float >= 1
    (``inf`` when it overflows). ``perplexity(0.0) == 1.0``."""
    value = _check_nll(mean_nll)
    try:
        return math.exp(value)
    except OverflowError:
        return math.inf


def bits_per_char(mean_nll: float) -> float:
    """``mean_nll / ln 2``: a mean negative log-likelihood in nats per character, in bits."""
    return _check_nll(mean_nll) / math.log(2.0)
