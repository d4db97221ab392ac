"""lstmx.charlm: vocabulary, truncated-BPTT windows, the model, sampling, training, the CLI."""

import numpy as np
import pytest

from conftest import assert_close
from lstmx.charlm import (BPTTBatches, CharLM, CharVocab, bpc_metric, choose, evaluate,
                          mean_nll, sample, split_ids, stdlib_docstrings, step_cells,
                          train_for)
from lstmx.charlm import command
from lstmx.optim import Adam
from lstmx.train.checkpoint import load_model
from lstmx.train.losses import CrossEntropyLoss
from lstmx.train.trainer import Trainer

TEXT = "the quick brown fox jumps over the lazy dog. " * 40


@pytest.fixture(scope="module")
def trained():
    """A small LSTM model that has learnt TEXT by heart (about a quarter of a second)."""
    vocab = CharVocab.from_text(TEXT)
    model = CharLM(vocab, cell="lstm", embed_dim=16, hidden_size=64, seed=0)
    trainer = Trainer(model, Adam(model.parameters(), lr=1e-2), CrossEntropyLoss(),
                      clip_norm=5.0, progress=False)
    batches = BPTTBatches(vocab.encode(TEXT), batch_size=8, seq_len=25)
    history = trainer.fit(lambda epoch: batches, epochs=30)
    return model.eval(), history


# -- vocabulary -----------------------------------------------------------------------------

def test_vocab_round_trip_and_unknown():
    v = CharVocab.from_text("banana split!")
    assert v.chars == " !abilnpst" and len(v) == 11
    ids = v.encode("a split banana")
    assert ids.dtype == np.int64 and ids.min() >= 1
    assert v.decode(ids) == "a split banana"
    assert list(v.encode("xa?")) == [0, v.chars.index("a") + 1, 0]
    assert v.decode(v.encode("xa")) == "\ufffda"
    # NFC: "e" + combining acute is the single character "é"
    assert len(CharVocab.from_text("e\u0301t\u00e9").chars) == 2
    with pytest.raises(ValueError, match="ids must be integers"):
        v.decode([len(v)])
    with pytest.raises(ValueError, match="distinct"):
        CharVocab("aab")


# -- windows --------------------------------------------------------------------------------

@pytest.mark.parametrize("N,B,T,offset", [(101, 4, 7, 0), (50, 3, 5, 2), (10, 1, 20, 0)])
def test_windows_continue_each_row(N, B, T, offset):
    ids = np.arange(1000, 1000 + N)
    batches = BPTTBatches(ids, B, T, offset=offset)
    windows = list(batches)
    n = (N - offset - 1) // B
    assert len(windows) == len(batches) == -(-n // T)
    assert [w.reset for w in windows] == [True] + [False] * (len(windows) - 1)
    rows_in = np.concatenate([w.ids for w in windows])      # (n, B), windows end to end
    rows_out = np.concatenate([w.targets for w in windows])
    for b in range(B):
        start = offset + b * n
        assert np.array_equal(rows_in[:, b], ids[start:start + n]), f"row {b} is not contiguous"
        assert np.array_equal(rows_out[:, b], ids[start + 1:start + n + 1])
    assert all(w.ids.shape[1] == B and w.ids.dtype == np.int64 for w in windows)


def test_windows_refuse_bad_arguments():
    with pytest.raises(ValueError, match="too few"):
        BPTTBatches(np.arange(4), 4, 2)
    with pytest.raises(ValueError, match="seq_len"):
        BPTTBatches(np.arange(40), 4, 0)
    with pytest.raises(TypeError, match="integer"):
        BPTTBatches(np.zeros(40), 4, 2)


# -- the model ------------------------------------------------------------------------------

@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_carried_state_equals_one_long_window(cell, rng):
    """Truncated BPTT's forward is exact: two windows with the state carried across give the
    logits of one window twice as long."""
    vocab = CharVocab("abcdefg")
    model = CharLM(vocab, cell=cell, embed_dim=5, hidden_size=6, num_layers=2,
                   dtype=np.float64, seed=3).eval()
    ids = rng.integers(1, len(vocab), size=(10, 3))
    whole, _ = model(ids)
    first, state = model(ids[:6])
    second, _ = model(ids[6:], state)
    assert_close("logits", np.concatenate([first, second]), whole, 1e-12)


def test_train_step_carries_state_per_mode(rng):
    vocab = CharVocab("abcdefg")
    model = CharLM(vocab, embed_dim=5, hidden_size=6, dtype=np.float64, seed=1)
    ids = rng.integers(1, len(vocab), size=41)
    windows = list(BPTTBatches(ids, 2, 5))
    loss = CrossEntropyLoss()
    want = [CrossEntropyLoss()(l, w.targets) for l, w in zip(
        np.split(model.eval()(np.concatenate([w.ids for w in windows]))[0], 4), windows)]
    model.train()
    got = []
    for i, w in enumerate(windows):
        got.append(model.train_step(w, loss)[0])
        model.zero_grad()
        if i == 1:  # a validation pass in between must not disturb the training stream
            model.eval()
            mean_nll(model, windows)
            model.train()
    assert_close("window losses", np.array(got), np.array(want), 1e-12)
    with pytest.raises(RuntimeError, match="reset=False"):
        CharLM(vocab, hidden_size=4).train_step(windows[1], loss)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_backward_matches_finite_differences(cell, rng):
    """float64, two layers: every parameter's gradient of the window loss, central
    differences with h = 1e-6, relative error <= 1e-6."""
    vocab = CharVocab("abcde")
    model = CharLM(vocab, cell=cell, embed_dim=3, hidden_size=4, num_layers=2,
                   dtype=np.float64, seed=5)
    ids = rng.integers(0, len(vocab), size=(4, 2))
    targets = rng.integers(0, len(vocab), size=(4, 2))
    state_rng = np.random.default_rng(0)
    h0 = state_rng.standard_normal((2, 2, 4))
    state = (h0, state_rng.standard_normal((2, 2, 4))) if cell == "lstm" else h0
    loss = CrossEntropyLoss()

    def value():
        model.eval()
        out = loss.forward(model(ids, state)[0], targets)
        model.train()
        return out

    model.zero_grad()
    loss.forward(model(ids, state)[0], targets)
    model.backward(loss.backward())
    for name, p in model.named_parameters():
        numeric = np.zeros_like(p.data)
        for i in np.ndindex(p.data.shape):
            keep = p.data[i]
            p.data[i] = keep + 1e-6
            up = value()
            p.data[i] = keep - 1e-6
            down = value()
            p.data[i] = keep
            numeric[i] = (up - down) / 2e-6
        assert_close(f"d{name}", p.grad, numeric, 1e-6)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_step_cells_reproduce_the_stack(cell, rng):
    vocab = CharVocab("abcdefgh")
    model = CharLM(vocab, cell=cell, embed_dim=4, hidden_size=5, num_layers=3,
                   dtype=np.float64, seed=2).eval()
    ids = rng.integers(0, len(vocab), size=(7, 2))
    want, _ = model(ids)
    cells = step_cells(model.rnn)
    assert len(cells) == 3 and not any(c.training for c in cells)
    states = [None] * 3
    for t in range(7):
        x = model.embed(ids[t])
        for k, c in enumerate(cells):
            states[k] = c(x, states[k])
            x = states[k][0] if cell == "lstm" else states[k]
        assert_close(f"logits[{t}]", model.out(x), want[t], 1e-12)


def test_config_round_trip():
    model = CharLM(CharVocab("xyz\n"), cell="gru", embed_dim=3, hidden_size=4, num_layers=2,
                   dropout=0.1, seed=9)
    again = CharLM.from_config(model.config)
    assert again.config == model.config and again.vocab.chars == model.vocab.chars
    for (name, a), (_, b) in zip(model.named_parameters(), again.named_parameters()):
        assert np.array_equal(a.data, b.data), name


# -- training and sampling ------------------------------------------------------------------

def test_learns_a_repetitive_text_and_writes_it_back(trained):
    model, history = trained
    assert history[0]["train_loss"] > 1.0
    assert history[-1]["train_loss"] < 0.05, f"final training loss {history[-1]['train_loss']}"
    text = sample(model, 120, prime="the ", temperature=0.0)
    assert text == TEXT[:124]
    assert sample(model, 120, prime="the ", temperature=0.2, seed=4) == TEXT[:124]
    windows = BPTTBatches(model.vocab.encode(TEXT), 4, 30)
    scores = evaluate(model, windows)
    assert scores["bpc"] < 0.1 and bpc_metric(model, windows) == scores["bpc"]
    assert scores["perplexity"] == pytest.approx(2 ** scores["bpc"])
    assert scores["nll"] == pytest.approx(np.log(2) * scores["bpc"])


def test_temperature_to_zero_and_top_1_are_greedy(trained):
    model, _ = trained
    model = CharLM.from_config(model.config)  # untrained: its greedy path is not obvious
    greedy = sample(model, 60, prime="fox", temperature=0.0)
    assert sample(model, 60, prime="fox", temperature=1e-9, seed=1) == greedy
    assert sample(model, 60, prime="fox", temperature=1.0, top_k=1, seed=2) == greedy
    assert sample(model, 60, prime="fox", temperature=5.0, top_k=1, seed=3) == greedy


def test_same_seed_same_sample(trained):
    model, _ = trained
    model = CharLM.from_config(model.config)
    a = sample(model, 80, prime="", temperature=1.0, top_k=5, seed=11)
    assert a == sample(model, 80, prime="", temperature=1.0, top_k=5, seed=11)
    assert a != sample(model, 80, prime="", temperature=1.0, top_k=5, seed=12)
    assert len(a) == 80 and "\ufffd" not in a
    lines = CharLM(CharVocab("ab\n"), hidden_size=8, seed=0)  # starts from a newline
    assert sample(lines, 30, seed=1) == sample(lines, 30, prime="\n", seed=1)[1:]


def test_choose_follows_the_softmax():
    logits = np.log(np.array([0.1, 0.2, 0.3, 0.4]))
    rng = np.random.default_rng(0)
    counts = np.bincount([choose(logits, 1.0, None, rng) for _ in range(4000)], minlength=4)
    assert np.allclose(counts / 4000, [0.1, 0.2, 0.3, 0.4], atol=0.03), counts
    top2 = {choose(logits, 1.0, 2, rng) for _ in range(200)}
    assert top2 == {2, 3}
    assert choose(logits, 1.0, None, rng, banned=3) != 3
    assert choose(logits, 0.0, None, rng, banned=3) == 2


def test_sample_refuses_bad_arguments(trained):
    model, _ = trained
    with pytest.raises(ValueError, match="temperature"):
        sample(model, 5, temperature=-1)
    with pytest.raises(ValueError, match="top_k"):
        sample(model, 5, top_k=len(model.vocab))
    with pytest.raises(ValueError, match="length"):
        sample(model, -1)


def test_train_for_time_budget_and_checkpoint(tmp_path):
    vocab = CharVocab.from_text(TEXT)
    train_ids, val_ids = split_ids(vocab.encode(TEXT), 0.1)
    model = CharLM(vocab, cell="gru", embed_dim=8, hidden_size=32, seed=0)
    path = tmp_path / "char.npz"
    trainer = train_for(model, train_ids, val_ids, seconds=0.5, batch_size=8, seq_len=20,
                        lr=1e-2, checkpoint_path=str(path), progress=False)
    bpc = trainer.history[-1]["metrics"]["bpc"]
    assert bpc < np.log2(len(vocab)), f"{bpc} bits/char is no better than a uniform guess"
    loaded = load_model(str(path)).eval()
    assert isinstance(loaded, CharLM) and loaded.vocab.chars == vocab.chars
    assert sample(loaded, 40, prime="the", seed=0) == sample(model.eval(), 40, prime="the", seed=0)


def test_train_for_stops_early_and_keeps_the_best_epoch():
    """Validated on the text read backwards, the model gets worse as it learns the text
    forwards: training stops after ``patience`` bad epochs with the best epoch's weights."""
    vocab = CharVocab.from_text(TEXT)
    val_ids = vocab.encode(TEXT[::-1][:300])
    model = CharLM(vocab, cell="gru", embed_dim=8, hidden_size=32, seed=0)
    trainer = train_for(model, vocab.encode(TEXT), val_ids, seconds=60, batch_size=8,
                        seq_len=20, lr=1e-2, patience=2, progress=False)
    best = trainer.early_stopping.best_epoch
    assert trainer.stopped_early and trainer.epoch == best + 2
    want = trainer.history[best - 1]["val_loss"]
    assert mean_nll(model, BPTTBatches(val_ids, 8, 20)) == pytest.approx(want, rel=1e-9)
    assert min(r["val_loss"] for r in trainer.history) == want


def test_demo_corpus_ships_with_python():
    text = stdlib_docstrings()
    assert len(text) > 100_000 and "Return" in text
    assert stdlib_docstrings(max_chars=500) == text[:500]


# -- the command ----------------------------------------------------------------------------

def test_generate_command_trains_saves_and_samples(tmp_path, capsys):
    corpus = tmp_path / "tiny.txt"
    corpus.write_text(TEXT)
    ckpt = tmp_path / "tiny.npz"
    assert command.main(["generate", "--text", str(corpus), "--minutes", "0.01",
                         "--hidden", "32", "--embed", "8", "--seq-len", "20",
                         "--batch-size", "8", "--length", "30", "--save", str(ckpt)]) == 0
    out = capsys.readouterr().out
    assert "bits/char" in out
    assert out.count("--- temperature") == 3
    assert command.main(["generate", "--checkpoint", str(ckpt), "--prime", "the lazy",
                         "--length", "20", "--temperature", "0"]) == 0
    out = capsys.readouterr().out
    assert "--- temperature 0 ---\nthe lazy" in out
    with pytest.raises(SystemExit) as stop:
        command.main(["generate", "--text", str(tmp_path / "missing.txt")])
    assert stop.value.code == 2
    assert "lstmx generate: error: argument --text: no such file" in capsys.readouterr().err
