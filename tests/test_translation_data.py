"""The shipped Tatoeba corpus, subword tokenization, and translation from the command line:
deterministic disjoint splits, exact subword round trips, a checkpoint that carries its
subword models into a fresh process, ``lstmx translate --input/--output`` and ``lstmx bleu``."""

import os
import subprocess
import sys
import warnings
from importlib import resources

import numpy as np
import pytest

from lstmx.cli import main
from lstmx.data.subwords import SubwordTokenizer
from lstmx.data.tatoeba_en_fr import corpus_pairs, tatoeba_en_fr
from lstmx.seq2seq import Seq2Seq

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@pytest.fixture(scope="module")
def splits():
    return tatoeba_en_fr(n_valid=300, n_test=300, seed=0)


@pytest.fixture(scope="module")
def english(splits):
    return SubwordTokenizer.train([en for en, _ in splits[0][:20000]], vocab_size=800)


def test_the_corpus_is_shipped_with_its_attribution():
    folder = resources.files("lstmx.data").joinpath("corpora")
    data = folder.joinpath("tatoeba_en_fr.tsv.xz")
    assert data.is_file() and len(data.read_bytes()) <= 3 * 2**20
    note = folder.joinpath("ATTRIBUTION.md").read_text(encoding="utf-8")
    assert "tatoeba.org" in note and "creativecommons.org/licenses/by/2.0" in note
    pairs = corpus_pairs()
    assert len(pairs) > 100_000 and all(en and fr for en, fr in pairs[:1000])


def test_splits_are_deterministic_and_disjoint(splits):
    train, valid, test = splits
    again = tatoeba_en_fr(n_valid=300, n_test=300, seed=0)
    assert (train, valid, test) == again
    sources = [{en for en, _ in part} for part in splits]
    assert len(sources[1]) == 300 and len(sources[2]) == 300
    assert not sources[0] & sources[2] and not sources[0] & sources[1]
    assert not sources[1] & sources[2]
    assert sum(map(len, splits)) == len(corpus_pairs())
    other = tatoeba_en_fr(n_valid=300, n_test=300, seed=1)
    assert other[2] != test


def test_split_sizes_are_checked():
    with pytest.raises(ValueError, match="n_test must be a positive integer"):
        tatoeba_en_fr(n_test=0)
    with pytest.raises(ValueError, match="leaves no training sentences"):
        tatoeba_en_fr(n_valid=10**6)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.text(max_size=60))
def test_subword_round_trip_is_exact(english, text):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # characters outside the training text
        pieces = english.tokenize(text)
    assert english.detokenize(pieces) == text
    vocab = english.vocab()
    assert vocab.unk_id not in vocab.encode(pieces)  # byte fallback: nothing becomes <unk>


def test_known_characters_never_become_unk_and_new_ones_warn_once(english):
    vocab = english.vocab()
    assert vocab.unk_id not in vocab.encode(english.tokenize("Xylophones quizzed jackdaws."))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        english.tokenize("Voilà ☃ and ☃ again")
        english.tokenize("☃")
    messages = [str(w.message) for w in caught]
    assert sum("'☃'" in m for m in messages) == 1, messages


def test_subword_training_is_deterministic(splits):
    text = [en for en, _ in splits[0][:5000]]
    assert SubwordTokenizer.train(text, 400).model == SubwordTokenizer.train(text, 400).model
    with pytest.raises(ValueError, match="vocab_size must be an integer >= 300"):
        SubwordTokenizer.train(text, 100)
    with pytest.raises(ValueError, match="cannot learn 301 subword pieces from this text"):
        SubwordTokenizer.train(text, 301)


@pytest.fixture(scope="module")
def tiny_translator(splits, tmp_path_factory):
    """A small subword Seq2Seq trained for a few hundred pairs (not to translate well: to
    go through every path), saved to a checkpoint."""
    pairs = splits[0][:600]
    src = SubwordTokenizer.train([p[0] for p in pairs], 400)
    tgt = SubwordTokenizer.train([p[1] for p in pairs], 400)
    model = Seq2Seq.from_pairs(pairs, embedding_dim=16, hidden_dim=16, src_tokenizer=src,
                               tgt_tokenizer=tgt, seed=0)
    model.fit(pairs, epochs=1, batch_size=32, progress=False)
    path = tmp_path_factory.mktemp("model") / "tiny.npz"
    model.save(path)
    return model, path


def test_a_checkpoint_carries_its_subwords_into_a_fresh_process(tiny_translator):
    model, path = tiny_translator
    sentences = ["I am cold.", "Where is the station?"]
    want = model.translate_batch(sentences, beam_size=2)
    out = subprocess.run([sys.executable, "-m", "lstmx.cli", "translate", "--checkpoint",
                          str(path), "--beam-size", "2", *sentences], capture_output=True,
                         text=True, check=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert out.stdout.splitlines() == want
    again = Seq2Seq.load(path)
    assert again.src_tokenizer == model.src_tokenizer
    assert again.translate_batch(sentences, beam_size=2) == want


def test_translate_input_and_output_files(tiny_translator, tmp_path):
    model, path = tiny_translator
    src = tmp_path / "in.txt"
    src.write_text("I am cold.\n\nHe runs.\n", encoding="utf-8")
    dst = tmp_path / "out.txt"
    assert main(["translate", "--checkpoint", str(path), "--input", str(src), "--output",
                 str(dst), "--beam-size", "1"]) == 0
    lines = dst.read_text(encoding="utf-8").split("\n")
    assert lines[1] == "" and lines[-1] == "" and len(lines) == 4  # the empty line stays
    assert lines[0] == model.translate("I am cold.", beam_size=1)


def test_bleu_command_equals_sacrebleu(tmp_path, capsys):
    sacrebleu = pytest.importorskip("sacrebleu")
    rng = np.random.default_rng(0)
    words = ["le", "chat", "est", "sur", "la", "table", "un", "chien", "aboie", "."]
    hyps = [" ".join(rng.choice(words, rng.integers(1, 9))) for _ in range(40)]
    refs = [[" ".join(rng.choice(words, rng.integers(1, 9))) for _ in range(40)]
            for _ in range(2)]
    (tmp_path / "h.txt").write_text("\n".join(hyps) + "\n", encoding="utf-8")
    for k, stream in enumerate(refs):
        (tmp_path / f"r{k}.txt").write_text("\n".join(stream) + "\n", encoding="utf-8")
    assert main(["bleu", str(tmp_path / "h.txt"), str(tmp_path / "r0.txt"),
                 str(tmp_path / "r1.txt")]) == 0
    line, signature = capsys.readouterr().out.splitlines()
    want = sacrebleu.corpus_bleu(hyps, refs)
    assert line == str(want)
    assert signature.startswith("nrefs:2|case:mixed|eff:no|tok:13a|smooth:exp|version:")


def test_bleu_command_refuses_mismatched_files(tmp_path, capsys):
    (tmp_path / "h.txt").write_text("a\nb\n")
    (tmp_path / "r.txt").write_text("a\n")
    with pytest.raises(SystemExit) as stop:
        main(["bleu", str(tmp_path / "h.txt"), str(tmp_path / "r.txt")])
    assert stop.value.code == 2
    assert "lstmx bleu: error: " in capsys.readouterr().err


def test_the_plain_encoder_decoder_trains_and_its_gradients_check(splits):
    """attention_type=None (Sutskever et al., 2014): trains (the loss falls), translates,
    saves and loads, and its backward matches finite differences in float64."""
    from conftest import finite_difference
    from lstmx.train import CrossEntropyLoss

    pairs = splits[0][:400]
    src = SubwordTokenizer.train([p[0] for p in pairs], 400)
    tgt = SubwordTokenizer.train([p[1] for p in pairs], 400)
    model = Seq2Seq.from_pairs(pairs, embedding_dim=16, hidden_dim=16, src_tokenizer=src,
                               tgt_tokenizer=tgt, attention_type=None, seed=1)
    assert model.decoder.attention is None
    history = model.fit(pairs, pairs[:50], epochs=3, batch_size=32, lr=1e-2, progress=False)
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert isinstance(model.translate("I am cold.", beam_size=3), str)
    t = model.translate("I am cold.", beam_size=1, return_attention=True)
    assert t.attention is None and isinstance(t.text, str)

    small = Seq2Seq(12, 11, embedding_dim=3, hidden_dim=4, attention_type=None, seed=2,
                    dtype=np.float64)
    rng = np.random.default_rng(3)
    src_ids = rng.integers(4, 12, (5, 2))
    lengths = np.array([5, 3])
    tgt_in = rng.integers(4, 11, (4, 2))
    tgt_out = rng.integers(4, 11, (4, 2))
    loss = CrossEntropyLoss()
    small.train()

    def value():
        return loss.forward(small.forward(src_ids, lengths, tgt_in), tgt_out)
    value()
    small.backward(loss.backward())
    for name, p in small.named_parameters():
        if "embedding" in name:
            continue
        idx = [0, p.data.size // 2, p.data.size - 1]
        want = finite_difference(value, p.data, flat_indices=idx)
        np.testing.assert_allclose(p.grad.reshape(-1)[idx], want, rtol=1e-6, atol=1e-8,
                                   err_msg=name)
