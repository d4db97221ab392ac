"""Seq2Seq: encoder, bridge and attentional decoder, with its vocabularies and tokenizers.

Example (``examples/translation.py`` is a complete run)::

    model = Seq2Seq.from_pairs(pairs, embedding_dim=64, hidden_dim=64)   # builds the vocabs
    model.fit(pairs, val_pairs, epochs=10)
    model.translate("How are you?", beam_size=5)           # -> 'Comment allez-vous ?'
    model.save("en-fr.npz")
    Seq2Seq.load("en-fr.npz").translate_batch(["Hello.", "Thank you."])

Sources are encoded as ``tokens <eos>`` and targets decoded from ``<sos>`` until ``<eos>``.
The decoder's width is the encoder's output width (``2 * hidden_dim`` with a bidirectional
encoder), so every attention score, dot included, applies as is.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from .. import distributed as _distributed
from ..checks import check_float_dtype, positive_int
from ..data import tokenizers as _tokenizers
from ..data.batching import Seq2SeqBatch, ShardedSeq2SeqBatches, pad_batch, seq2seq_batches
from ..data.subwords import SubwordTokenizer
from ..data.vocab import Vocab
from ..nn.module import Module
from ..optim import Adam
from ..train.checkpoint import load_model, save_checkpoint
from ..train.losses import CrossEntropyLoss
from ..train.deadline import UntilDeadline
from ..train.trainer import EarlyStopping, Trainer
from .attention import ATTENTION_TYPES
from .decoder import Decoder
from .encoder import Bridge, Encoder, check_cell
from .search import beam_search, greedy_search
from ..heap import keep_freed_memory
from ..threads import one_numpy_blas_thread

_Tokenizer = _tokenizers.WordTokenizer | _tokenizers.CharTokenizer | SubwordTokenizer


class Translation(NamedTuple):
    """A translation with what produced it: ``text``; ``tokens`` (output tokens, then
    ``<eos>`` when produced); ``source_tokens`` (source tokens then ``<eos>``);
    ``attention`` ``(len(tokens), len(source_tokens))`` (rows sum to 1); ``score`` (length-
    normalised log-probability)."""

    text: str
    tokens: list
    source_tokens: list
    attention: np.ndarray
    score: float


def _tokenizer_config(tok):
    if tok is None:
        return None
    if isinstance(tok, SubwordTokenizer):
        return tok.config()
    name = type(tok).__name__
    if getattr(_tokenizers, name, None) is not type(tok):
        raise TypeError(f"cannot save a {name}: only lstmx.data tokenizers are stored in a "
                        "checkpoint")
    return {"type": name, **{k: v for k, v in vars(tok).items()}}


def _tokenizer_from_config(cfg):
    if cfg is None:
        return None
    cfg = dict(cfg)
    kind = cfg.pop("type")
    if kind == "SubwordTokenizer":
        return SubwordTokenizer.from_config(cfg)
    if kind not in ("WordTokenizer", "CharTokenizer"):
        raise ValueError(f"unknown tokenizer type {kind!r} in the model config")
    return getattr(_tokenizers, kind)(**cfg)


class _StopAtDeadline(EarlyStopping):
    """Early stopping on ``monitor`` that also stops once ``deadline`` (perf_counter) passed;
    ``synchronized``: the MPI ranks decide together (past on one rank's clock: on all)."""

    def __init__(self, deadline, monitor, patience, restore_best, synchronized=False):
        super().__init__(monitor, patience=patience, restore_best=restore_best)
        self.deadline = deadline
        self.synchronized = synchronized

    @property
    def should_stop(self):
        late = self.deadline is not None and time.perf_counter() > self.deadline
        if self.deadline is not None and self.synchronized:
            late = _distributed.any_rank(late)
        return late or self.bad_epochs >= self.patience


class Seq2Seq(Module):
    """Encoder-decoder with attention for translation.

    Args:
        vocab_size_src, vocab_size_tgt: vocabulary sizes (ids 0..3 are <pad> <sos> <eos> <unk>).
        embedding_dim (E), hidden_dim (H: the encoder's, per direction).
        attention_type: "bahdanau", "luong-dot", "luong-general" or "luong-concat"; None is
            the plain encoder-decoder of Sutskever et al. (2014), the source reaching the
            decoder only through its initial state.
        cell: "lstm" or "gru". num_layers (L): encoder and decoder depth.
        bidirectional_encoder: D = 2 encoder directions; the decoder is D*H wide.
        dropout: embeddings, between encoder layers, before the output projection.
        seed: initialisation, dropout masks, teacher-forcing draws.
        dtype: float32 (default) or float64.
        teacher_forcing: probability of feeding the reference token in training (< 1: the
            model's own argmax otherwise).
        src_vocab, tgt_vocab: ``lstmx.data.Vocab`` (needed for text: translate, fit).
        src_tokenizer, tgt_tokenizer: default ``WordTokenizer()``.
        max_source_len: longest source (tokens, <eos> included) ``translate`` accepts.

    Arrays: ``logits (T, B, V_tgt) = model(src (S, B) int, src_lengths (B,), tgt_in (T, B))``;
    ``model.backward(dlogits)`` accumulates every parameter's gradient.

    Example::

        >>> model = Seq2Seq(30, 40, embedding_dim=8, hidden_dim=16, seed=0)
        >>> src = np.array([[5, 6], [7, 2], [2, 0]])          # (S, B), <eos> = 2, <pad> = 0
        >>> tgt_in = np.array([[1, 1], [9, 8]])                # (T, B), <sos> = 1
        >>> logits = model(src, np.array([3, 2]), tgt_in)
        >>> logits.shape
        (2, 2, 40)
        >>> model.backward(np.ones_like(logits))
    """

    def __init__(self, vocab_size_src: int, vocab_size_tgt: int, embedding_dim: int,
                 hidden_dim: int, attention_type: str | None = "bahdanau", cell: str = "lstm",
                 num_layers: int = 1, bidirectional_encoder: bool = True,
                 dropout: float = 0.0, seed: int | None = 0, dtype: DTypeLike = np.float32,
                 teacher_forcing: float = 1.0, src_vocab: Vocab | None = None,
                 tgt_vocab: Vocab | None = None, src_tokenizer: _Tokenizer | None = None,
                 tgt_tokenizer: _Tokenizer | None = None, max_source_len: int = 200) -> None:
        super().__init__()
        if attention_type is not None and attention_type not in ATTENTION_TYPES:
            raise ValueError(f"attention_type must be one of {', '.join(ATTENTION_TYPES)}, "
                             f"or None for the plain encoder-decoder; got {attention_type!r}")
        check_cell(cell)
        sizes = {name: positive_int(v, name) for name, v in (
            ("vocab_size_src", vocab_size_src), ("vocab_size_tgt", vocab_size_tgt),
            ("embedding_dim", embedding_dim), ("hidden_dim", hidden_dim),
            ("num_layers", num_layers), ("max_source_len", max_source_len))}
        for side, size in (("src", vocab_size_src), ("tgt", vocab_size_tgt)):
            if size < 5:
                raise ValueError(f"vocab_size_{side} must exceed the 4 special tokens, "
                                 f"got {size}")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {dropout!r}")
        if not 0.0 <= float(teacher_forcing) <= 1.0:
            raise ValueError(f"teacher_forcing must lie in [0, 1], got {teacher_forcing!r}")
        for name, vocab, size in (("src_vocab", src_vocab, vocab_size_src),
                                  ("tgt_vocab", tgt_vocab, vocab_size_tgt)):
            if vocab is not None and len(vocab) != size:
                raise ValueError(f"{name} has {len(vocab)} tokens but the model was built for "
                                 f"{size}")
        self.dtype = check_float_dtype(dtype)
        self.vocab_size_src, self.vocab_size_tgt = sizes["vocab_size_src"], sizes["vocab_size_tgt"]
        self.embedding_dim, self.hidden_dim = sizes["embedding_dim"], sizes["hidden_dim"]
        self.num_layers, self.max_source_len = sizes["num_layers"], sizes["max_source_len"]
        self.attention_type, self.cell = attention_type, cell
        self.bidirectional_encoder = bool(bidirectional_encoder)
        self.dropout, self.seed = float(dropout), seed
        self.teacher_forcing = float(teacher_forcing)
        self.src_vocab, self.tgt_vocab = src_vocab, tgt_vocab
        self.src_tokenizer = src_tokenizer or _tokenizers.WordTokenizer()
        self.tgt_tokenizer = tgt_tokenizer or _tokenizers.WordTokenizer()
        s_enc, s_bridge, s_dec = (int(s.generate_state(1)[0])
                                  for s in np.random.SeedSequence(seed).spawn(3))
        width = (2 if self.bidirectional_encoder else 1) * self.hidden_dim
        self.encoder = Encoder(vocab_size_src, embedding_dim, hidden_dim, cell, num_layers,
                               self.bidirectional_encoder, dropout, dtype=self.dtype, seed=s_enc)
        self.bridge = Bridge(width, width, cell, dtype=self.dtype, seed=s_bridge)
        self.decoder = Decoder(vocab_size_tgt, embedding_dim, width, width, attention_type,
                               cell, num_layers, dropout, dtype=self.dtype, seed=s_dec)

    # -- configuration and checkpoints ---------------------------------------------------

    @property
    def config(self) -> dict[str, Any]:
        """Everything ``from_config`` needs to rebuild this model (JSON-able)."""
        return {
            "vocab_size_src": self.vocab_size_src, "vocab_size_tgt": self.vocab_size_tgt,
            "embedding_dim": self.embedding_dim, "hidden_dim": self.hidden_dim,
            "attention_type": self.attention_type, "cell": self.cell,
            "num_layers": self.num_layers, "bidirectional_encoder": self.bidirectional_encoder,
            "dropout": self.dropout, "seed": self.seed, "dtype": self.dtype.name,
            "teacher_forcing": self.teacher_forcing, "max_source_len": self.max_source_len,
            "src_vocab": None if self.src_vocab is None else self.src_vocab.to_json(),
            "tgt_vocab": None if self.tgt_vocab is None else self.tgt_vocab.to_json(),
            "src_tokenizer": _tokenizer_config(self.src_tokenizer),
            "tgt_tokenizer": _tokenizer_config(self.tgt_tokenizer),
        }

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Seq2Seq:
        """A fresh model (untrained weights) from ``config``."""
        cfg = dict(config)
        for side in ("src", "tgt"):
            v = cfg.get(f"{side}_vocab")
            cfg[f"{side}_vocab"] = None if v is None else Vocab.from_json(v)
            cfg[f"{side}_tokenizer"] = _tokenizer_from_config(cfg.get(f"{side}_tokenizer"))
        cfg["dtype"] = np.dtype(cfg["dtype"])
        return cls(**cfg)

    def save(self, path: str | os.PathLike[str], optimizer: Any = None,
             extra: dict[str, Any] | None = None) -> Any:
        """Write the model, its vocabularies and tokenizers to one checkpoint file."""
        return save_checkpoint(path, self, optimizer, extra=extra)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Seq2Seq:
        """The model saved at ``path`` (by ``save`` or by a Trainer)."""
        model = load_model(path)
        if not isinstance(model, cls):
            raise ValueError(f"{path} holds a {type(model).__name__}, not a {cls.__name__}")
        model.eval()
        return model

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, str]], embedding_dim: int = 64,
                   hidden_dim: int = 64, src_tokenizer: _Tokenizer | None = None,
                   tgt_tokenizer: _Tokenizer | None = None, min_freq: int = 1,
                   max_vocab: int | None = None, **kwargs: Any) -> Seq2Seq:
        """Build the vocabularies from (source, target) string ``pairs``, then the model
        (remaining arguments as in ``Seq2Seq``)."""
        src_tok = src_tokenizer or _tokenizers.WordTokenizer()
        tgt_tok = tgt_tokenizer or _tokenizers.WordTokenizer()
        pairs = list(pairs)
        if not pairs:
            raise ValueError("from_pairs needs at least one (source, target) pair")
        src_vocab, tgt_vocab = (
            tok.vocab() if isinstance(tok, SubwordTokenizer)  # every piece, no <unk>
            else Vocab([tok.tokenize(p[side]) for p in pairs], min_freq, max_vocab)
            for side, tok in ((0, src_tok), (1, tgt_tok)))
        return cls(len(src_vocab), len(tgt_vocab), embedding_dim, hidden_dim,
                   src_vocab=src_vocab, tgt_vocab=tgt_vocab, src_tokenizer=src_tok,
                   tgt_tokenizer=tgt_tok, **kwargs)

    # -- arrays --------------------------------------------------------------------------

    def encode(self, src: ArrayLike, src_lengths: ArrayLike
               ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray | None]]:
        """``memory (S, B, D*H)`` and the decoder's initial state ``(h0, c0)`` (L, B, D*H)."""
        memory, final = self.encoder(src, src_lengths)
        return memory, self.bridge(final)

    def forward(self, src: ArrayLike, src_lengths: ArrayLike, tgt_in: ArrayLike,
                return_attention: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Logits ``(T, B, V_tgt)`` of the next target token at every step (teacher forcing
        with ratio ``self.teacher_forcing`` in training, full in eval mode); with
        ``return_attention`` also the weights ``(T, B, S)``."""
        memory, init = self.encode(src, src_lengths)
        return self.decoder(tgt_in, memory, src_lengths, init, self.teacher_forcing,
                            return_attention)

    def backward(self, dlogits: np.ndarray) -> None:
        """Back-propagate ``dlogits (T, B, V_tgt)``; returns None (the inputs are ids)."""
        dmemory, dinit = self.decoder.backward(dlogits)
        self.encoder.backward(dmemory, self.bridge.backward(dinit))

    def train_step(self, batch: Seq2SeqBatch, loss: Any) -> tuple[float, int]:
        """Forward and backward of one ``Seq2SeqBatch`` -> (loss value, target tokens)."""
        keep_freed_memory()  # every step allocates the same large arrays (lstmx.heap)
        (src, src_lengths, tgt_in), tgt_out, mask = batch
        value = loss.forward(self.forward(src, src_lengths, tgt_in), tgt_out, mask)
        self.backward(loss.backward())
        return value, int(np.count_nonzero(mask))

    def eval_step(self, batch: Seq2SeqBatch, loss: Any) -> tuple[float, int]:
        """Loss of one batch under full teacher forcing (no backward)."""
        (src, src_lengths, tgt_in), tgt_out, mask = batch
        return loss.forward(self.forward(src, src_lengths, tgt_in), tgt_out, mask), \
            int(np.count_nonzero(mask))

    # -- text ----------------------------------------------------------------------------

    def _need_vocabs(self):
        if self.src_vocab is None or self.tgt_vocab is None:
            raise RuntimeError("this model has no vocabularies: build it with "
                               "Seq2Seq.from_pairs(...) or pass src_vocab and tgt_vocab")

    def source_ids(self, sentence: str) -> list[int]:
        """Token ids of one source sentence, ``<eos>`` appended (an empty sentence is just
        ``<eos>``); ValueError beyond ``max_source_len``."""
        self._need_vocabs()
        assert self.src_vocab is not None
        if not isinstance(sentence, str):
            raise TypeError(f"a sentence must be a str, got {type(sentence).__name__}")
        ids = self.src_vocab.encode(self.src_tokenizer.tokenize(sentence), add_eos=True)
        if len(ids) > self.max_source_len:
            raise ValueError(f"the sentence has {len(ids) - 1} tokens; this model translates "
                             f"at most {self.max_source_len - 1} (max_source_len="
                             f"{self.max_source_len}): split it into shorter sentences")
        return ids

    def pair_ids(self, pairs: Iterable[tuple[str, str]]) -> list[tuple[list[int], list[int]]]:
        """(source ids with <eos>, target ids) for (source, target) string pairs."""
        self._need_vocabs()
        assert self.src_vocab is not None and self.tgt_vocab is not None
        out = []
        for s, t in pairs:
            src = self.src_vocab.encode(self.src_tokenizer.tokenize(s), add_eos=True)
            out.append((src, self.tgt_vocab.encode(self.tgt_tokenizer.tokenize(t))))
        return out

    @one_numpy_blas_thread
    def translate_batch(self, sentences: Iterable[str], beam_size: int = 1,
                        max_len: int | None = None, length_penalty: float = 1.0,
                        return_attention: bool = False, batch_size: int = 64
                        ) -> list[str] | list[Translation]:
        """Translate a list of strings; a list of strings (or of ``Translation`` with
        ``return_attention``). Each result is what ``translate`` gives for that sentence
        alone. ``max_len``: output tokens at most (default 2 * source length + 10)."""
        if isinstance(sentences, str):
            raise TypeError("translate_batch takes a list of strings; use translate() for one")
        ids = [self.source_ids(s) for s in sentences]
        results: list[Any] = [None] * len(ids)
        was_training = self.training
        self.eval()
        try:
            order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
            for start in range(0, len(order), batch_size):
                chunk = order[start:start + batch_size]
                for i, hyp in zip(chunk, self._search([ids[i] for i in chunk], beam_size,
                                                       max_len, length_penalty,
                                                       return_attention)):
                    results[i] = self._result(ids[i], hyp, return_attention)
        finally:
            self.train(was_training)
        return results

    @one_numpy_blas_thread
    def translate(self, sentence: str, beam_size: int = 5, max_len: int | None = None,
                  length_penalty: float = 1.0, return_attention: bool = False
                  ) -> str | Translation:
        """Translate one string (beam search; ``beam_size=1`` is greedy). With
        ``return_attention`` a ``Translation`` (text, tokens, source tokens, weights)."""
        return self.translate_batch([sentence], beam_size, max_len, length_penalty,
                                    return_attention)[0]

    def _search(self, id_lists, beam_size, max_len, length_penalty, return_attention):
        src, lengths = pad_batch(id_lists, self.src_vocab.pad_id)
        return_attention = return_attention and self.attention_type is not None
        limits = 2 * lengths + 10 if max_len is None else np.full(len(lengths), int(max_len))
        v = self.tgt_vocab
        if beam_size == 1:
            return greedy_search(self, src, lengths, limits, v.sos_id, v.eos_id, v.pad_id,
                                 return_attention)
        return beam_search(self, src, lengths, limits, v.sos_id, v.eos_id, v.pad_id,
                           beam_size, length_penalty, return_attention)

    def _result(self, src_ids, hyp, return_attention):
        text = self.tgt_tokenizer.detokenize(self.tgt_vocab.decode(hyp.ids))
        if not return_attention:
            return text
        tokens = [self.tgt_vocab.token(i) for i in hyp.ids] + ["<eos>"] * hyp.ended
        src_tokens = [self.src_vocab.token(i) for i in src_ids]
        return Translation(text, tokens, src_tokens, hyp.attention,
                           hyp.normalized)

    # -- training ------------------------------------------------------------------------

    def batches(self, pairs: Iterable[tuple[str, str]], batch_size: int = 64,
                shuffle: bool = True, seed: int = 0) -> list[Seq2SeqBatch]:
        """``Seq2SeqBatch`` list of (source, target) string pairs, bucketed by length."""
        ids = self.pair_ids(pairs)
        v = self.tgt_vocab
        assert v is not None  # pair_ids has checked
        return seq2seq_batches(ids, batch_size, seed=seed, shuffle=shuffle,
                               pad_id=v.pad_id, sos_id=v.sos_id, eos_id=v.eos_id)

    def fit(self, pairs: Iterable[tuple[str, str]],
            val_pairs: Iterable[tuple[str, str]] | None = None, epochs: int = 10,
            batch_size: int = 64, lr: float = 3e-3, clip_norm: float | None = 1.0,
            label_smoothing: float = 0.0, max_seconds: float | None = None,
            patience: int | None = None, keep_best: bool = True,
            metrics: Mapping[str, Callable[..., Any]] | None = None,
            schedule: Callable[[Any], Any] | None = None,
            checkpoint_path: str | os.PathLike[str] | None = None, progress: bool = True,
            seed: int = 0, resume: str | os.PathLike[str] | None = None,
            distributed: bool | None = None) -> list[dict[str, Any]]:
        """Train on (source, target) string pairs with Adam and the ``Trainer``.

        Every epoch draws a fresh bucketed order (``seed + epoch``). ``max_seconds`` stops
        training (mid-epoch if need be) once that much time has passed; the history record
        of an epoch cut short that way has ``"cut": True``. With ``val_pairs``:
        ``patience`` stops after that many epochs without a lower validation loss, and
        ``keep_best`` ends with the parameters of the epoch of lowest validation loss.
        ``metrics``: ``{"name": fn(model, val_batches)}``. ``schedule``: a function
        ``optimizer -> schedule`` (stepped per epoch; a ``ReduceLROnPlateau`` with the
        validation loss). ``resume``: a checkpoint the Trainer wrote (``checkpoint_path``)
        to continue from, up to ``epochs`` in all. ``distributed``: the Trainer's (None:
        data-parallel when launched with more than one MPI rank; ``batch_size`` is then per
        rank: N ranks train the batches of one process with batch N·b, each rank b rows of
        every batch (``ShardedSeq2SeqBatches``); the ranks stop together at
        ``max_seconds``). Returns the Trainer's history (one dict per epoch).
        """
        ids = self.pair_ids(pairs)
        if not ids:
            raise ValueError("fit needs at least one training pair")
        v = self.tgt_vocab
        assert v is not None  # pair_ids has checked
        val = self.batches(val_pairs, batch_size, shuffle=False) if val_pairs else None
        deadline = None if max_seconds is None else time.perf_counter() + float(max_seconds)

        timed: list[UntilDeadline] = []
        synchronized = (distributed is not False) and _distributed.is_distributed()
        ranks = _distributed.size() if synchronized else 1

        def epoch_batches(epoch):
            # N ranks: the batches of one process with batch N·b, each rank b of every
            # batch's rows (sorted by length and dealt, so the ranks' parts take equal time)
            make = seq2seq_batches if ranks == 1 else ShardedSeq2SeqBatches
            timed.append(UntilDeadline(make(ids, batch_size * ranks, seed=seed + epoch,
                                            pad_id=v.pad_id, sos_id=v.sos_id,
                                            eos_id=v.eos_id), deadline, synchronized))
            return timed[-1]

        optimizer = Adam(self.parameters(), lr=lr)
        stopping = _StopAtDeadline(
            deadline, "val_loss" if val else "train_loss", patience or epochs,
            restore_best=bool(keep_best and val), synchronized=synchronized)
        trainer = Trainer(self, optimizer, CrossEntropyLoss(label_smoothing=label_smoothing),
                          clip_norm=clip_norm, metrics=metrics, early_stopping=stopping,
                          schedule=None if schedule is None else schedule(optimizer),
                          checkpoint_path=checkpoint_path, seed=seed, progress=progress,
                          distributed=synchronized)
        if resume is not None:
            trainer.resume(resume)
        trainer.fit(epoch_batches, val, epochs=epochs)
        self.eval()
        if timed and timed[-1].cut and trainer.history:
            trainer.history[-1]["cut"] = True  # the time budget ended this epoch early
        return trainer.history

    def __repr__(self):
        return (f"Seq2Seq({self.vocab_size_src}, {self.vocab_size_tgt}, embedding_dim="
                f"{self.embedding_dim}, hidden_dim={self.hidden_dim}, attention_type="
                f"{self.attention_type!r}, cell={self.cell!r}, num_layers={self.num_layers}, "
                f"bidirectional_encoder={self.bidirectional_encoder}, dtype={self.dtype.name})")
