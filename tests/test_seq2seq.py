"""Seq2Seq: finite-difference gradients (float64) of every parameter for each attention type
and cell; a tiny model that overfits 20 pairs; checkpoints; awkward inputs; search."""

import argparse

import numpy as np
import pytest

from lstmx.data.batching import pad_batch
from lstmx.data.tokenizers import WordTokenizer
from lstmx.seq2seq import ATTENTION_TYPES, Seq2Seq, command
from lstmx.seq2seq.search import beam_search, greedy_search
from lstmx.train.checkpoint import model_rng_states, set_model_rng_states
from lstmx.train.losses import CrossEntropyLoss
from conftest import finite_difference

EPS = 1e-6


def _batch(rng, V_src, V_tgt, S=5, T=4, B=3):
    lengths = np.array([S, 2, 1][:B])
    src = rng.integers(4, V_src, (S, B))
    src[np.arange(S)[:, None] >= lengths[None, :]] = 0
    tgt_in = rng.integers(1, V_tgt, (T, B))
    return src, lengths, tgt_in


def _check_model(model, rng, entries=3, tol=1e-6):
    src, lengths, tgt_in = _batch(rng, model.vocab_size_src, model.vocab_size_tgt)
    weights = rng.standard_normal((tgt_in.shape[0], tgt_in.shape[1], model.vocab_size_tgt))
    rng_state = model_rng_states(model)

    def loss():
        set_model_rng_states(model, rng_state)
        logits = model(src, lengths, tgt_in)
        return float((logits * weights).sum())

    model.zero_grad()
    loss()
    model.backward(weights)
    checked = 0
    for name, p in model.named_parameters():
        flat, grad = p.data.reshape(-1), p.grad.reshape(-1)
        nonzero = np.flatnonzero(grad)
        picks = set(rng.choice(flat.size, min(entries, flat.size), replace=False).tolist())
        if nonzero.size:
            picks |= set(rng.choice(nonzero, min(entries, nonzero.size), replace=False).tolist())
        picks = sorted(picks)
        for i, numeric in zip(picks, finite_difference(loss, p.data, EPS, picks)):
            err = abs(numeric - grad[i]) / max(abs(numeric), abs(grad[i]), 1e-2)
            assert err < tol, (f"{name}[{np.unravel_index(i, p.shape)}]: analytic {grad[i]!r}, "
                               f"numeric {numeric!r}, relative error {err:.2e}")
            checked += 1
        # every parameter takes part in the loss
        assert np.any(grad != 0), f"{name} got no gradient"
    return checked


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("attention", ATTENTION_TYPES)
def test_gradients(rng, attention, cell):
    model = Seq2Seq(9, 10, embedding_dim=4, hidden_dim=3, attention_type=attention, cell=cell,
                    num_layers=2, bidirectional_encoder=True, dtype=np.float64, seed=1)
    assert _check_model(model, rng) > 50


@pytest.mark.parametrize("attention", ["bahdanau", "luong-general"])
def test_gradients_with_dropout_and_sampled_inputs(rng, attention):
    """Dropout masks and teacher-forcing draws replayed: backward is exact for the path taken."""
    model = Seq2Seq(9, 10, embedding_dim=4, hidden_dim=3, attention_type=attention,
                    num_layers=2, bidirectional_encoder=False, dropout=0.3,
                    teacher_forcing=0.5, dtype=np.float64, seed=2)
    _check_model(model, rng)


def test_without_teacher_forcing_the_reference_is_not_read(rng):
    model = Seq2Seq(9, 10, embedding_dim=4, hidden_dim=3, teacher_forcing=0.0, seed=3)
    src, lengths, tgt_in = _batch(rng, 9, 10)
    other = tgt_in.copy()
    other[1:] = rng.integers(1, 10, other[1:].shape)
    a = model(src, lengths, tgt_in)
    model.decoder.clear()
    b = model(src, lengths, other)
    assert np.array_equal(a, b)
    model.eval()  # evaluation always feeds the reference
    assert not np.array_equal(model(src, lengths, tgt_in), model(src, lengths, other))


# -- a tiny translator ------------------------------------------------------------------------

PAIRS = [
    ("I am cold.", "J'ai froid."), ("I am hot.", "J'ai chaud."), ("I am hungry.", "J'ai faim."),
    ("You are tall.", "Tu es grand."), ("He is tired.", "Il est fatigué."),
    ("She is happy.", "Elle est heureuse."), ("We are late.", "Nous sommes en retard."),
    ("They are here.", "Ils sont ici."), ("The cat sleeps.", "Le chat dort."),
    ("The dog eats.", "Le chien mange."), ("The bird sings.", "L'oiseau chante."),
    ("I see the cat.", "Je vois le chat."), ("I see the dog.", "Je vois le chien."),
    ("You see the bird.", "Tu vois l'oiseau."), ("The red car.", "La voiture rouge."),
    ("The big house.", "La grande maison."), ("Good morning!", "Bonjour !"),
    ("Thank you very much.", "Merci beaucoup."), ("Where is the station?", "Où est la gare ?"),
    ("How are you?", "Comment allez-vous ?"),
]
FR = WordTokenizer(french_spacing=True)


def _tiny(attention="bahdanau", cell="lstm", epochs=60):
    model = Seq2Seq.from_pairs(PAIRS, embedding_dim=16, hidden_dim=32, attention_type=attention,
                               cell=cell, tgt_tokenizer=FR, seed=0)
    history = model.fit(PAIRS, epochs=epochs, batch_size=20, lr=1e-2, progress=False)
    return model, history


@pytest.fixture(scope="module")
def tiny():
    return _tiny()[0]


@pytest.mark.parametrize("attention,cell", [("bahdanau", "lstm"), ("luong-general", "gru")])
def test_overfits_twenty_pairs_exactly(attention, cell):
    model, history = _tiny(attention, cell)
    assert history[-1]["train_loss"] < 0.05 < history[0]["train_loss"]
    assert model.translate_batch([s for s, _ in PAIRS]) == [t for _, t in PAIRS]
    assert model.translate("Where is the station?", beam_size=5) == "Où est la gare ?"


def test_fit_stops_at_the_deadline_and_keeps_the_best_epoch():
    model = Seq2Seq.from_pairs(PAIRS, embedding_dim=8, hidden_dim=8, seed=0)
    history = model.fit(PAIRS, epochs=5, batch_size=4, max_seconds=0.0, progress=False)
    assert len(history) == 1  # one batch, then the deadline
    model = Seq2Seq.from_pairs(PAIRS, embedding_dim=8, hidden_dim=8, seed=0)
    history = model.fit(PAIRS, PAIRS[:5], epochs=4, batch_size=10, lr=0.5, progress=False)
    val = [h["val_loss"] for h in history]
    assert np.argmin(val) < len(val) - 1, "the last epoch should not be the best here"
    batch = model.batches(PAIRS[:5], 10, shuffle=False)[0]
    assert abs(model.eval_step(batch, CrossEntropyLoss())[0] - min(val)) < 1e-5


def test_checkpoint_round_trip_translates_identically(tiny, tmp_path):
    path = tiny.save(tmp_path / "tiny.npz")
    loaded = Seq2Seq.load(path)
    assert loaded.config == tiny.config
    for (name, p), (name2, q) in zip(tiny.named_parameters(), loaded.named_parameters()):
        assert name == name2 and np.array_equal(p.data, q.data), name
    sentences = [s for s, _ in PAIRS] + ["The cat sees the red dog.", "zebra"]
    for beam in (1, 3):
        assert loaded.translate_batch(sentences, beam_size=beam) == \
            tiny.translate_batch(sentences, beam_size=beam)


def test_unknown_empty_and_overlong_sources(tiny):
    unknown = tiny.translate("Xylophones quench zebras.", return_attention=True)
    assert unknown.source_tokens == ["<unk>"] * 3 + [".", "<eos>"]
    assert isinstance(unknown.text, str)
    empty = tiny.translate("", beam_size=3, return_attention=True)
    assert empty.source_tokens == ["<eos>"] and isinstance(empty.text, str)
    assert empty.attention.shape == (len(empty.tokens), 1)
    # long but allowed: the output is cut at 2 * source length + 10 tokens
    long = " ".join(["the cat sleeps"] * 30)
    out = tiny.translate(long, beam_size=2, return_attention=True)
    assert len(out.tokens) <= 2 * 91 + 10
    with pytest.raises(ValueError, match="max_source_len"):
        tiny.translate(" ".join(["cat"] * 250))
    with pytest.raises(TypeError, match="str"):
        tiny.translate(None)
    with pytest.raises(TypeError, match="list of strings"):
        tiny.translate_batch("I am cold.")


def test_beam_size_one_is_greedy(tiny):
    sentences = [s for s, _ in PAIRS] + ["The dog sees the bird.", "I am the cat.", ""]
    ids = [tiny.source_ids(s) for s in sentences]
    src, lengths = pad_batch(ids)
    v = tiny.tgt_vocab
    tiny.eval()
    greedy = greedy_search(tiny, src, lengths, 2 * lengths + 10, v.sos_id, v.eos_id,
                           return_attention=True)
    beam = beam_search(tiny, src, lengths, 2 * lengths + 10, v.sos_id, v.eos_id, beam_size=1,
                       return_attention=True)
    for g, b in zip(greedy, beam):
        assert g.ids == b.ids and g.ended == b.ended
        assert abs(g.score - b.score) < 1e-9
        np.testing.assert_allclose(g.attention, b.attention, atol=1e-6)


@pytest.mark.parametrize("beam_size", [1, 4])
def test_batched_translation_equals_one_by_one(tiny, beam_size):
    sentences = [s for s, _ in PAIRS[:8]] + ["The bird sees the cat.", "", "big red house"]
    batched = tiny.translate_batch(sentences, beam_size=beam_size, return_attention=True)
    for s, t in zip(sentences, batched):
        alone = tiny.translate(s, beam_size=beam_size, return_attention=True)
        assert alone.text == t.text and alone.tokens == t.tokens
        np.testing.assert_allclose(alone.attention, t.attention, atol=1e-5)


def test_attention_returned_and_plotted(tiny, tmp_path):
    t = tiny.translate("I see the dog.", beam_size=3, return_attention=True)
    assert t.text == "Je vois le chien."
    assert t.tokens[-1] == "<eos>"
    assert t.attention.shape == (len(t.tokens), len(t.source_tokens))
    np.testing.assert_allclose(t.attention.sum(axis=1), 1.0, atol=1e-5)
    pytest.importorskip("matplotlib")
    from lstmx.viz import plot_attention
    path = plot_attention(t.source_tokens, t.tokens, t.attention, tmp_path / "a.png")
    assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="len\\(tgt_tokens\\)"):
        plot_attention(t.source_tokens, t.tokens[:-1], t.attention, tmp_path / "b.png")


def test_translate_command_with_a_checkpoint(tiny, tmp_path, capsys):
    path = tiny.save(tmp_path / "tiny.npz")
    parser = argparse.ArgumentParser()
    command.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["translate", "--checkpoint", str(path), "--beam-size", "3",
                              "I see the dog.", "I am cold."])
    assert command.run(args) == 0
    assert capsys.readouterr().out.splitlines() == ["Je vois le chien.", "J'ai froid."]
    with pytest.raises(SystemExit):
        parser.parse_args(["translate", "--demo", "--data", "x.txt"])


def test_bad_arguments():
    with pytest.raises(ValueError, match="attention_type"):
        Seq2Seq(10, 10, 4, 4, attention_type="luong")
    with pytest.raises(ValueError, match="cell"):
        Seq2Seq(10, 10, 4, 4, cell="rnn")
    with pytest.raises(ValueError, match="hidden_dim"):
        Seq2Seq(10, 10, 4, 0)
    with pytest.raises(TypeError, match="float32 or float64"):
        Seq2Seq(10, 10, 4, 4, dtype=np.int32)
    with pytest.raises(RuntimeError, match="vocabularies"):
        Seq2Seq(10, 10, 4, 4).translate("hello")
