"""Sampling text from a CharLM, one character at a time through the native single-step cells.

The trained stack's weights are loaded layer by layer into ``lstmx.LSTMCell``/``GRUCell``/
``RNNCell`` (``step_cells``), which advance one step per call, so generating n characters
costs n steps whatever came before. Each step turns the logits z of the next character into
a choice::

    temperature τ = 0:  argmax z                        (greedy)
    τ > 0:              p = softmax(z / τ), drawn from p (τ < 1 sharpens, τ > 1 flattens)
    top_k = k:          only the k largest logits compete (the rest get p = 0)

The unknown-character id is never produced.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from ..nn.cells import GRUCell, LSTMCell, RNNCell
from ..nn.quantized import quantize, quantized_dtype
from ..nn.recurrent import GRU, LSTM, RNN
from ..threads import one_numpy_blas_thread

if TYPE_CHECKING:
    from .model import CharLM

__all__ = ["sample", "step_cells", "choose"]

_CELL_CLASSES = {LSTM: LSTMCell, GRU: GRUCell, RNN: RNNCell}


def step_cells(rnn: LSTM | GRU | RNN) -> list[LSTMCell | GRUCell | RNNCell]:
    """Single-step cells (eval mode) holding the weights of each layer of ``rnn``.

    Args:
        rnn: an ``lstmx.LSTM``, ``GRU`` or ``RNN`` with one direction.

    Returns:
        A list of ``num_layers`` cells; cell k has ``weight_ih`` = ``rnn.weight_ih_l{k}`` etc.
        (copies), so running the cells over a sequence step by step, each cell feeding the
        next, gives the stack's outputs (dropout aside). The cells of a quantized stack are
        quantized alike (``lstmx.quantize``) and hold its quantized weights.
    """
    if rnn.bidirectional:
        raise ValueError("step_cells needs a one-direction stack; a bidirectional layer "
                         "reads the future, which a sampler does not have")
    # the float class of a quantized layer too
    cell_class = next(c for layer, c in _CELL_CLASSES.items() if isinstance(rnn, layer))
    quantization = quantized_dtype(rnn)
    cells = []
    for k in range(rnn.num_layers):
        width = rnn.input_size if k == 0 else rnn.hidden_size
        extra = ({"nonlinearity": rnn.nonlinearity}  # type: ignore[union-attr]  # RNN only
                 if isinstance(rnn, RNN) else {})
        cell = cell_class(width, rnn.hidden_size, bias=rnn.bias, dtype=rnn.dtype, **extra)
        if quantization is not None:
            cell = quantize(cell, quantization)
        cell.load_state_dict({n: getattr(rnn, f"{n}_l{k}").data
                              for n, _ in cell.named_parameters()})
        cells.append(cell.eval())
    return cells


def choose(logits: ArrayLike, temperature: float, top_k: int | None, rng: np.random.Generator,
           banned: int | None = None) -> int:
    """The index chosen from ``logits`` (V,) by the rule in the module docstring.

    ``banned``: an index never chosen (the unknown id). ``rng``: a numpy Generator (one
    uniform draw per call when temperature > 0).
    """
    z = np.array(logits, dtype=np.float64)
    if banned is not None:
        z[banned] = -np.inf
    if top_k is not None:
        # keep the k largest (ties at the k-th value are all kept)
        kth = np.partition(z, -top_k)[-top_k]
        z[z < kth] = -np.inf
    if temperature == 0:
        return int(np.argmax(z))
    # p = softmax(z / τ), computed stably; inverse-CDF draw with one uniform number
    z = (z - z.max()) / temperature
    p = np.exp(z)
    cdf = np.cumsum(p)
    return int(min(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"), len(p) - 1))


@one_numpy_blas_thread
def sample(model: CharLM, length: int = 200, prime: str = "", temperature: float = 1.0,
           top_k: int | None = None, seed: int | None = None) -> str:
    """Generate ``length`` characters after ``prime`` with ``model`` (a ``CharLM``).

    Args:
        model: a trained ``CharLM`` (its weights are copied into single-step cells).
        length: number of new characters (>= 0).
        prime: text the model reads first; its last character is the first input. Empty:
            the model starts from an unseen newline (or, for a text without newlines, from a
            character of the vocabulary drawn with ``seed``).
        temperature: τ >= 0 (0 is greedy).
        top_k: sample only among the k most likely characters (None: all; 1 is greedy).
        seed: seed of the draws; the same seed gives the same text.

    Returns:
        ``prime`` followed by the ``length`` generated characters (str).

    Example::

        >>> sample(model, 50, prime="ROMEO:", temperature=0.8, top_k=10, seed=1)
    """
    if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 0:
        raise ValueError(f"length must be a non-negative integer, got {length!r}")
    if not temperature >= 0:
        raise ValueError(f"temperature must be >= 0, got {temperature!r}")
    V = len(model.vocab)
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer))
                              or not 1 <= top_k <= V - 1):
        raise ValueError(f"top_k must be None or an integer in [1, {V - 1}] (the number of "
                         f"characters), got {top_k!r}")
    if not isinstance(prime, str):
        raise TypeError(f"prime must be a str, got {type(prime).__name__}")
    rng = np.random.default_rng(seed)
    start = prime
    if not prime:  # a newline is the natural "start of something" in most texts
        chars = model.vocab.chars
        start = "\n" if "\n" in chars else chars[rng.integers(len(chars))]
    cells = step_cells(model.rnn)
    table = model.embed.weight.data
    states = [None] * len(cells)

    def step(char_id):
        """Advance every layer by one character; the logits (V,) of the next one."""
        x = table[char_id][None, :]
        for k, cell in enumerate(cells):
            states[k] = cell(x, states[k])
            x = states[k][0] if isinstance(states[k], tuple) else states[k]
        return model.out.project(x)[0]

    ids = model.vocab.encode(start)
    for char_id in ids[:-1]:
        step(char_id)
    out = []
    char_id = ids[-1]
    for _ in range(length):
        char_id = choose(step(char_id), temperature, top_k, rng, banned=model.vocab.unknown_id)
        out.append(char_id)
    return prime + model.vocab.decode(np.array(out, dtype=np.int64))
