"""Train a float64 Seq2Seq with ``Seq2Seq.fit`` for tests/test_distributed.py: imported by
the test for one process, run under ``mpiexec`` for N ranks; rank 0 writes the parameters to
the .npz given as the second argument (the first: sentence pairs per rank and batch).

The 57 pairs make 7 full batches of 8 and one of a single pair, which under 2 ranks leaves
rank 1 without rows in that step."""

import sys

import numpy as np

from lstmx import distributed
from lstmx.seq2seq import Seq2Seq

WORDS = "a b c d e f g h i j k l".split()


def pairs(n=57, seed=5):
    """n (source, target) sentences of 1 to 7 words, of different lengths on each side."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        src = rng.choice(WORDS, size=rng.integers(1, 8))
        tgt = [w.upper() for w in rng.choice(WORDS, size=rng.integers(1, 8))]
        out.append((" ".join(src), " ".join(tgt)))
    return out


def train(batch_size, distributed_=None):
    """The Seq2Seq after two epochs with ``batch_size`` pairs per rank and batch."""
    data = pairs()
    model = Seq2Seq.from_pairs(data, embedding_dim=5, hidden_dim=6, dtype=np.float64, seed=2)
    model.fit(data, epochs=2, batch_size=batch_size, lr=0.01, progress=False, seed=1,
              distributed=distributed_)
    return model


if __name__ == "__main__":
    model = train(int(sys.argv[1]))
    if distributed.rank() == 0:
        np.savez(sys.argv[2], **model.state_dict())
