"""How well a CharLM predicts held-out text: mean negative log-likelihood, bits per
character and perplexity, over ``BPTTBatches`` windows read in order (state carried).

    nll = −(1/N) Σ_t ln p(c_t | c_<t)       (nats per character)
    bpc = nll / ln 2                        perplexity = e^nll = 2^bpc

A model that spreads its bets evenly over V characters scores bpc = log2 V; English text
compressors reach about 2 bits per character, good character models 1.2–1.5. The conversions
are ``lstmx.metrics.bits_per_char`` and ``lstmx.metrics.perplexity``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .. import metrics
from ..train.losses import CrossEntropyLoss

__all__ = ["mean_nll", "evaluate", "bpc_metric"]


def mean_nll(model: Any, batches: Iterable[Any]) -> float:
    """Mean negative log-likelihood in nats per predicted character over ``batches``
    (model in eval mode during the pass, its previous mode restored after)."""
    was_training = model.training
    model.eval()
    loss = CrossEntropyLoss()
    total, count = 0.0, 0
    try:
        for window in batches:
            value, n = model.eval_step(window, loss)
            total += value * n
            count += n
    finally:
        model.train(was_training)
    if count == 0:
        raise ValueError("no characters to evaluate: batches is empty")
    return total / count


def evaluate(model: Any, batches: Iterable[Any]) -> dict[str, float]:
    """``{"nll": nats/char, "bpc": bits/char, "perplexity": per char}`` over ``batches``."""
    nll = mean_nll(model, batches)
    return {"nll": nll, "bpc": metrics.bits_per_char(nll), "perplexity": metrics.perplexity(nll)}


def bpc_metric(model: Any, batches: Iterable[Any]) -> float:
    """Bits per character over ``batches``: a Trainer metric (``fn(model, batches)``)."""
    return metrics.bits_per_char(mean_nll(model, batches))
