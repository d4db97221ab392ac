"""Train a float64 CharLM with ``lstmx.charlm.train_for`` for tests/test_distributed.py:
imported by the test for one process, run under ``mpiexec`` for N ranks; rank 0 writes the
parameters to the .npz given as the second argument (the first: windows per rank)."""

import sys

import numpy as np

from lstmx import distributed
from lstmx.charlm import CharLM, CharVocab
from lstmx.charlm.train import split_ids, train_for

TEXT = "the quick brown fox jumps over the lazy dog; pack my box with five dozen jugs. " * 12


def train(batch_size):
    """The CharLM after one epoch with ``batch_size`` windows per rank."""
    vocab = CharVocab.from_text(TEXT)
    model = CharLM(vocab, hidden_size=12, embed_dim=6, dtype=np.float64, seed=3)
    train_ids, val_ids = split_ids(vocab.encode(TEXT), 0.1)
    train_for(model, train_ids, val_ids, seconds=1e6, batch_size=batch_size, seq_len=8,
              epochs=1, progress=False)
    return model


if __name__ == "__main__":
    model = train(int(sys.argv[1]))
    if distributed.rank() == 0:
        np.savez(sys.argv[2], **model.state_dict())
