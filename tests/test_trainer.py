"""Trainer: the step, schedules, clipping, early stopping, exact resume, history plots, and
the examples built on it (examples/copy_task.py, sequence_prediction.py, classify_four.py)."""

import os
import sys

import numpy as np
import pytest

import lstmx
from lstmx.nn import Dropout, Linear
from lstmx.optim import SGD, Adam, ReduceLROnPlateau, StepLR
from lstmx.train import EarlyStopping, MSELoss, Trainer, plot_history, save_checkpoint

sys.path.insert(0, os.path.join(os.path.dirname(__file__), os.pardir, "examples"))


class Net(lstmx.Module):
    """LSTM (2 layers, dropout) + Dropout + Linear on every step: (T, B, 3) -> (T, B, 2)."""

    def __init__(self, seed=0):
        super().__init__()
        self.lstm = lstmx.LSTM(3, 8, num_layers=2, dropout=0.3, seed=seed)
        self.drop = Dropout(0.2, seed=seed + 1)
        self.head = Linear(8, 2, seed=seed + 2)

    def forward(self, x):
        y, _ = self.lstm(x)
        return self.head(self.drop(y))

    def backward(self, dout):
        return self.lstm.backward(self.drop.backward(self.head.backward(dout)))[0]


def regression_batches(n, seed, T=5, B=4):
    """Targets: a running mean of the inputs' first two features."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        x = rng.standard_normal((T, B, 3)).astype(np.float32)
        y = np.cumsum(x[:, :, :2], axis=0) / np.arange(1, T + 1)[:, None, None]
        out.append((x, y.astype(np.float32)))
    return out


TRAIN = regression_batches(6, seed=1)
VAL = regression_batches(2, seed=2)


def make_trainer(init_seed=0, **kwargs):
    net = Net(seed=init_seed)
    opt = Adam(net.parameters(), lr=1e-2)
    options = dict(clip_norm=0.5, schedule=StepLR(opt, step_size=1, gamma=0.8),
                   early_stopping=EarlyStopping("val_loss", patience=10), seed=5,
                   progress=False)
    options.update(kwargs)
    return Trainer(net, opt, MSELoss(), **options)


def assert_same_parameters(a, b):
    for (name, p), q in zip(a.named_parameters(), b.parameters()):
        np.testing.assert_array_equal(q.data, p.data, err_msg=name)


def test_fit_history_and_learning():
    trainer = make_trainer()
    history = trainer.fit(TRAIN, VAL, epochs=5)
    assert len(history) == 5 and trainer.epoch == 5
    assert set(history[0]) == {"epoch", "train_loss", "val_loss", "lr", "tokens_per_s",
                               "seconds", "metrics"}
    assert [h["epoch"] for h in history] == [1, 2, 3, 4, 5]
    assert history[-1]["val_loss"] < history[0]["val_loss"]
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert all(h["tokens_per_s"] > 0 and h["seconds"] > 0 for h in history)
    np.testing.assert_allclose([h["lr"] for h in history], [1e-2 * 0.8 ** k for k in range(5)])


def test_resume_is_exact(tmp_path):
    path = tmp_path / "run.npz"
    straight = make_trainer()
    straight.fit(TRAIN, VAL, epochs=4)

    first = make_trainer(checkpoint_path=path)
    first.fit(TRAIN, VAL, epochs=2)
    resumed = make_trainer(init_seed=99)            # other weights: resume overwrites them
    resumed.resume(path)
    assert resumed.epoch == 2 and len(resumed.history) == 2
    resumed.fit(TRAIN, VAL, epochs=4)

    assert_same_parameters(straight.model, resumed.model)
    assert [h["train_loss"] for h in resumed.history] == [h["train_loss"] for h in straight.history]
    assert resumed.optimizer.lr == straight.optimizer.lr
    assert resumed.early_stopping.state_dict() == straight.early_stopping.state_dict()

    # the generators are part of what makes it exact: a resume that loses any of them drifts
    for generator in (lambda t: t.model.drop.rng, lambda t: t.model.lstm._dropout_rng,
                      lambda t: t.rng):
        other = make_trainer().resume(path)
        generator(other).bit_generator.state = np.random.default_rng(123).bit_generator.state
        other.fit(TRAIN, VAL, epochs=4)
        assert not np.array_equal(other.model.head.weight.data, straight.model.head.weight.data)


def test_resume_with_callable_batches(tmp_path):
    def batches(epoch):
        return regression_batches(3, seed=[7, epoch])

    straight = make_trainer(schedule=None, early_stopping=None)
    straight.fit(batches, VAL, epochs=3)
    first = make_trainer(schedule=None, early_stopping=None, checkpoint_path=tmp_path / "c.npz")
    first.fit(batches, VAL, epochs=1)
    resumed = make_trainer(schedule=None, early_stopping=None).resume(tmp_path / "c.npz")
    resumed.fit(batches, VAL, epochs=3)
    assert_same_parameters(straight.model, resumed.model)


def test_resume_errors(tmp_path):
    trainer = make_trainer(checkpoint_path=tmp_path / "run.npz")
    trainer.fit(TRAIN, VAL, epochs=1)
    with pytest.raises(ValueError, match="schedule"):
        make_trainer(schedule=None).resume(tmp_path / "run.npz")
    with pytest.raises(ValueError, match="early stopping"):
        make_trainer(early_stopping=None).resume(tmp_path / "run.npz")
    bare = save_checkpoint(tmp_path / "bare.npz", Net())
    with pytest.raises(ValueError, match=r"bare\.npz was not written by a Trainer"):
        make_trainer().resume(bare)
    with pytest.raises(ValueError, match=r"run\.npz does not match this model"):
        lstm = lstmx.LSTM(3, 4)
        Trainer(lstm, Adam(lstm.parameters()), MSELoss(), progress=False).resume(
            tmp_path / "run.npz")


def test_early_stopping_and_best_parameters():
    scores = iter([1.0, 3.0, 2.0, 2.5, 2.9, 9.0])
    snapshots = []

    def score(model, batches):
        snapshots.append(model.state_dict())
        return next(scores)

    trainer = make_trainer(metrics={"score": score}, early_stopping=EarlyStopping(
        "score", mode="max", patience=3, restore_best=True))
    history = trainer.fit(TRAIN, VAL, epochs=10)
    assert len(history) == 5 and trainer.stopped_early      # best at 2, then 3 bad epochs
    assert trainer.early_stopping.best == 3.0 and trainer.early_stopping.best_epoch == 2
    for k, v in trainer.model.state_dict().items():         # the best epoch's parameters
        np.testing.assert_array_equal(v, snapshots[1][k], err_msg=k)
    assert not np.array_equal(snapshots[1]["head.weight"], snapshots[4]["head.weight"])


def test_early_stopping_min_delta():
    es = EarlyStopping("val_loss", patience=2, min_delta=0.1)
    assert es.update(1.0, 1) and not es.update(0.95, 2) and es.update(0.8, 3)
    assert not es.should_stop and not es.update(0.8, 4) and not es.update(0.75, 5)
    assert es.should_stop
    with pytest.raises(ValueError, match="mode"):
        EarlyStopping(mode="up")
    with pytest.raises(ValueError, match="cannot monitor 'accuracy'"):
        make_trainer(early_stopping=EarlyStopping("accuracy")).fit(TRAIN, VAL, epochs=1)


def test_clip_norm_limits_the_step():
    # one SGD step of lr 1 with clipping moves the parameters by exactly clip_norm
    model = Linear(3, 2, dtype=np.float64, seed=0)
    x = np.ones((4, 3))
    y = np.full((4, 2), 100.0)                               # a huge gradient
    before = np.concatenate([p.data.ravel() for p in model.parameters()])
    trainer = Trainer(model, SGD(model.parameters(), lr=1.0), MSELoss(), clip_norm=0.25,
                      progress=False)
    trainer.fit([(x, y)], epochs=1)
    after = np.concatenate([p.data.ravel() for p in model.parameters()])
    np.testing.assert_allclose(np.linalg.norm(after - before), 0.25, rtol=1e-6)  # torch's eps


def test_schedule_per_batch_and_plateau():
    model = Linear(3, 2, seed=0)
    opt = SGD(model.parameters(), lr=1.0)
    batches = [(np.zeros((2, 3), np.float32), np.zeros((2, 2), np.float32))] * 3
    trainer = Trainer(model, opt, MSELoss(), schedule=StepLR(opt, 1, gamma=0.5),
                      schedule_interval="batch", progress=False)
    history = trainer.fit(batches, epochs=2)
    # lr of each epoch's last batch: 1, .5, .25 | .125, .0625, .03125
    assert [h["lr"] for h in history] == [0.25, 0.03125]

    class Spy(ReduceLROnPlateau):
        seen = []

        def step(self, metric):
            self.seen.append(metric)
            super().step(metric)

    net = Net()
    opt = SGD(net.parameters(), lr=0.0)                     # no progress: a plateau
    trainer = Trainer(net, opt, MSELoss(), schedule=Spy(opt, patience=1), progress=False)
    history = trainer.fit(TRAIN, VAL, epochs=3)
    assert Spy.seen == [h["val_loss"] for h in history]
    with pytest.raises(ValueError, match="per epoch"):
        Trainer(net, opt, MSELoss(), schedule=Spy(opt), schedule_interval="batch")


def test_model_train_step_is_used():
    class Custom(Net):
        calls = 0

        def train_step(self, batch, loss):
            Custom.calls += 1
            x, y = batch
            value = loss.forward(self(x), y)
            self.backward(loss.backward())
            return value, 7

        def eval_step(self, batch, loss):
            return (2.0, 1) if not self.training else (np.nan, 1)

    net = Custom()
    history = Trainer(net, Adam(net.parameters()), MSELoss(), progress=False).fit(TRAIN, VAL)
    assert Custom.calls == len(TRAIN)
    assert history[0]["val_loss"] == 2.0                     # eval_step, in eval mode


def test_bad_batches_and_divergence():
    trainer = make_trainer()
    with pytest.raises(TypeError, match=r"\(inputs, targets\)"):
        trainer.fit([TRAIN[0][0]], epochs=1)
    with pytest.raises(TypeError, match="one-shot iterator"):
        trainer.fit(iter(TRAIN), epochs=2)
    x, y = TRAIN[0]
    with pytest.raises(FloatingPointError, match="epoch 1, batch 0"):
        make_trainer().fit([(x, np.full_like(y, np.nan))], epochs=1)
    with pytest.raises(ValueError, match="clip_norm"):
        make_trainer(clip_norm=-1.0)


def test_progress_bar_shows_loss_and_speed(capsys):
    make_trainer(progress=True).fit(TRAIN, VAL, epochs=1)
    out, err = capsys.readouterr()
    assert "loss=" in err and "tok_s=" in err and "epoch 1/1" in err
    assert "val_loss" in out and "tok/s" in out


def test_plot_history(tmp_path):
    pytest.importorskip("matplotlib")
    trainer = make_trainer(metrics={"score": lambda m, b: 0.5})
    trainer.fit(TRAIN, VAL, epochs=2)
    path = plot_history(trainer.history, tmp_path / "curves.png")
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="empty"):
        plot_history([], tmp_path / "none.png")


def test_plot_history_without_matplotlib(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"pip install lstmx\[plot\]"):
        plot_history([{"epoch": 1, "train_loss": 1.0}], tmp_path / "x.png")


# -- the examples, at a tiny size -------------------------------------------------------------

def test_copy_task_example_learns(tmp_path):
    import copy_task
    model, trainer = copy_task.train(length=4, bits=1, hidden=24, batches_per_epoch=20,
                                     max_epochs=25, target=0.98, progress=False)
    acc = [h["metrics"]["bit_accuracy"] for h in trainer.history]
    assert acc[-1] >= 0.98 > acc[0]
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return
    path = copy_task.plot_gates(model, tmp_path / "gates.png", length=4)
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_sequence_prediction_example_beats_baseline():
    import sequence_prediction
    _, trainer, result = sequence_prediction.train(num_steps=800, window=12, hidden=8,
                                                   epochs=6, progress=False)
    mse = [h["metrics"]["val_mse"] for h in trainer.history]
    assert mse[-1] < mse[0]
    assert result["val_mse"] < 0.9 * result["baseline_mse"]


def test_classify_four_example_learns(capsys):
    import classify_four
    _, trainer = classify_four.train(num_train=400, epochs=8, progress=False)
    acc = [h["metrics"]["accuracy"] for h in trainer.history]
    assert acc[-1] > 0.85 and acc[-1] > acc[0]
    assert classify_four.main(["--train", "200", "--epochs", "2", "--quiet"]) == 0
    assert "validation accuracy" in capsys.readouterr().out
