"""Character language models: read a text, learn to predict its next character, write more.

    >>> from lstmx.charlm import CharVocab, CharLM, split_ids, train_for, sample
    >>> text = open("input.txt").read()
    >>> vocab = CharVocab.from_text(text)
    >>> train_ids, val_ids = split_ids(vocab.encode(text), 0.05)
    >>> model = CharLM(vocab, cell="lstm", hidden_size=256)
    >>> trainer = train_for(model, train_ids, val_ids, seconds=300)   # truncated BPTT
    >>> trainer.history[-1]["metrics"]["bpc"]                          # bits per character
    >>> print(sample(model, 300, prime="The ", temperature=0.8, seed=0))

Pieces: ``CharVocab`` (characters <-> ids, id 0 unknown), ``BPTTBatches`` (fixed-length
windows over a text, consecutive windows continuing each stream), ``CharLM`` (embedding ->
LSTM/GRU/RNN stack -> linear), ``train_for`` (the Trainer for a time budget),
``evaluate`` (bits per character, perplexity), ``sample`` (temperature, top-k, priming,
seed; native single-step cells), ``stdlib_docstrings`` (a demo corpus that ships with
Python) and the ``lstmx generate`` command (``command.py``).
"""

from .corpus import stdlib_docstrings
from .dataset import BPTTBatches, Window
from .evaluate import bpc_metric, evaluate, mean_nll
from .model import CharLM
from .sample import choose, sample, step_cells
from .train import split_ids, train_for, uniform_bpc
from .vocab import CharVocab

__all__ = ["CharVocab", "BPTTBatches", "Window", "CharLM", "train_for", "split_ids",
           "uniform_bpc", "mean_nll", "evaluate", "bpc_metric", "sample", "step_cells",
           "choose", "stdlib_docstrings"]
