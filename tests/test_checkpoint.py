"""Checkpoints: round trips, clear errors for wrong files, atomic writes."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import lstmx
from lstmx.nn import Dropout, Linear, SequenceModel
from lstmx.optim import Adam, StepLR
from lstmx.train.checkpoint import (load_checkpoint, load_model, model_rng_states,
                                    save_checkpoint, set_model_rng_states)


class Net(lstmx.Module):
    """LSTM (2 layers, dropout between them) + Dropout + Linear: generators in two places."""

    def __init__(self, hidden=6, seed=0):
        super().__init__()
        self.config = {"hidden": hidden}
        self.lstm = lstmx.LSTM(3, hidden, num_layers=2, dropout=0.3, seed=seed)
        self.drop = Dropout(0.2, seed=seed + 1)
        self.head = Linear(hidden, 2, seed=seed + 2)

    def forward(self, x):
        y, _ = self.lstm(x)
        return self.head(self.drop(y))

    def backward(self, dout):
        return self.lstm.backward(self.drop.backward(self.head.backward(dout)))[0]


def trained(seed=0, steps=3):
    """A Net, its Adam and StepLR after a few steps (so every state is non-trivial)."""
    net = Net(seed=seed)
    opt = Adam(net.parameters(), lr=1e-2)
    sched = StepLR(opt, step_size=2, gamma=0.5)
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        out = net(rng.standard_normal((4, 5, 3)).astype(np.float32))
        net.backward(np.ones_like(out))
        opt.step()
        sched.step()
        net.zero_grad()
    return net, opt, sched


def test_round_trip(tmp_path):
    net, opt, sched = trained(seed=0)
    path = tmp_path / "run.npz"
    extra = {"epoch": 3, "pair": (1, 2.5), "table": [{"a": None, "b": np.arange(4)}]}
    save_checkpoint(path, net, opt, sched, extra=extra)

    other, opt2, sched2 = trained(seed=7, steps=1)
    ckpt = load_checkpoint(path)
    ckpt.restore(other, opt2, sched2)
    for (name, p), q in zip(net.named_parameters(), other.parameters()):
        np.testing.assert_array_equal(q.data, p.data, err_msg=name)
    assert opt2.step_count == opt.step_count and opt2.lr == opt.lr
    for key, value in opt.state_dict()["state"].items():
        np.testing.assert_array_equal(opt2.state_dict()["state"][key], value, err_msg=key)
    assert sched2.state_dict() == sched.state_dict()
    # the generators continue identically
    assert set(model_rng_states(other)) == {"lstm._dropout_rng", "drop.rng"}
    np.testing.assert_array_equal(other.drop.rng.random(5), net.drop.rng.random(5))
    np.testing.assert_array_equal(other.lstm._dropout_rng.random(5),
                                  net.lstm._dropout_rng.random(5))
    assert ckpt.extra["epoch"] == 3 and ckpt.extra["pair"] == (1, 2.5)
    assert ckpt.extra["table"][0]["a"] is None
    np.testing.assert_array_equal(ckpt.extra["table"][0]["b"], np.arange(4))
    assert ckpt.config == {"hidden": 6}


def test_rng_states_hook():
    class Custom(lstmx.Module):
        def __init__(self):
            super().__init__()
            self.gen = np.random.default_rng(0)

        def rng_states(self):
            return {"noise": self.gen.bit_generator.state}

        def set_rng_states(self, states):
            self.gen.bit_generator.state = states["noise"]

    a, b = Custom(), Custom()
    a.gen.random(3)
    states = model_rng_states(a)
    assert list(states) == ["noise"]
    set_model_rng_states(b, states)
    assert a.gen.random() == b.gen.random()
    with pytest.raises(ValueError, match="missing"):
        set_model_rng_states(b, {})


def test_load_model_rebuilds_from_config(tmp_path):
    config = {"cell": "gru", "input_size": 2, "hidden_size": 5, "num_layers": 2,
              "output_size": 3, "seed": 1}
    model = SequenceModel(config)
    path = save_checkpoint(tmp_path / "m.npz", model)
    again = load_model(path)
    assert type(again) is SequenceModel and again.config == model.config
    x = np.random.default_rng(0).standard_normal((4, 2, 2)).astype(np.float32)
    np.testing.assert_array_equal(again(x), model(x))


def test_other_architecture_is_a_clear_error(tmp_path):
    net, opt, _ = trained()
    path = save_checkpoint(tmp_path / "run.npz", net, opt)
    ckpt = load_checkpoint(path)
    with pytest.raises(ValueError, match=r"run\.npz.*lstm\.weight_hh_l0 has shape"):
        ckpt.restore(Net(hidden=8))
    with pytest.raises(ValueError, match=r"run\.npz.*checkpoint holds a Net, the model is a LSTM"):
        ckpt.restore(lstmx.LSTM(3, 6))
    cfg = tmp_path / "cfg.npz"
    save_checkpoint(cfg, SequenceModel({"cell": "lstm", "input_size": 2, "hidden_size": 4,
                                        "dropout": 0.0}))
    with pytest.raises(ValueError, match=r"cfg\.npz.*config differs.*dropout"):
        load_checkpoint(cfg).restore(SequenceModel({"cell": "lstm", "input_size": 2,
                                                    "hidden_size": 4, "dropout": 0.5}))
    # nothing was written by the failed restores
    fresh = Net(hidden=8)
    before = fresh.state_dict()
    with pytest.raises(ValueError):
        ckpt.restore(fresh)
    for k, v in fresh.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


def test_not_a_checkpoint(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(ValueError, match=r"notes\.txt is not an lstmx checkpoint"):
        load_checkpoint(text)
    plain = tmp_path / "plain.npz"
    np.savez(plain, a=np.ones(3))
    with pytest.raises(ValueError, match=r"plain\.npz is not an lstmx checkpoint.*header"):
        load_checkpoint(plain)
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, header=np.frombuffer(b'{"format": "other"}', np.uint8))
    with pytest.raises(ValueError, match=r"foreign\.npz is not an lstmx checkpoint"):
        load_checkpoint(foreign)
    net, _, _ = trained()
    good = save_checkpoint(tmp_path / "good.npz", net)
    data = open(good, "rb").read()
    cut = tmp_path / "cut.npz"
    cut.write_bytes(data[:len(data) // 2])
    with pytest.raises(ValueError, match=r"cut\.npz"):
        load_checkpoint(cut)
    with pytest.raises(FileNotFoundError, match="missing"):
        load_checkpoint(tmp_path / "missing.npz")


WRITER = """
import sys
import numpy as np
import lstmx
from lstmx.train.checkpoint import save_checkpoint
path = sys.argv[1]
model = lstmx.LSTM(3, 4, seed=0)
big = np.zeros(12_000_000, np.float32)    # 48 MB: a save takes a while
for i in range(1000):
    model.weight_hh_l0.data[...] = i
    big[:] = i
    save_checkpoint(path, model, extra={"i": i, "big": big})
    print(i, flush=True)
"""


def test_killed_during_save_leaves_previous_checkpoint(tmp_path):
    path = tmp_path / "run.npz"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], env=env,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "0"   # a first checkpoint is complete
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:             # wait for the next save to be under way
            if any(p.name.endswith(".tmp") for p in tmp_path.iterdir()):
                break
            time.sleep(0.0005)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert any(p.name.endswith(".tmp") for p in tmp_path.iterdir()), \
        "the writer was not caught in the middle of a save"
    ckpt = load_checkpoint(path)
    i = ckpt.extra["i"]
    assert np.all(ckpt.parameters["weight_hh_l0"] == i)
    assert ckpt.extra["big"].shape == (12_000_000,) and ckpt.extra["big"][-1] == i


def test_load_model_imports_nothing_a_file_names(tmp_path, monkeypatch):
    """A checkpoint naming a module of its own (a planted helper.py in the working directory)
    is refused before that module is imported: its top-level code never runs."""
    config = {"cell": "gru", "input_size": 2, "hidden_size": 5, "num_layers": 1,
              "output_size": 3, "seed": 1}
    path = save_checkpoint(tmp_path / "m.npz", SequenceModel(config))
    marker = tmp_path / "ran.txt"
    (tmp_path / "planted_helper.py").write_text(
        f"open({str(marker)!r}, 'w').write('ran')\n"
        "class SequenceModel:\n"
        "    @classmethod\n"
        "    def from_config(cls, config):\n"
        "        return cls()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with np.load(path, allow_pickle=False) as f:
        data = dict(f)
    header = json.loads(data["header"].tobytes().decode("utf-8"))
    for module, cls in (("planted_helper", "SequenceModel"), ("os", "system")):
        header["model"]["module"], header["model"]["class"] = module, cls
        data["header"] = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
        bad = tmp_path / f"bad_{module}.npz"
        np.savez(bad, **data)
        with pytest.raises(ValueError, match=rf"bad_{module}\.npz: model class {module}\.{cls} "
                                             r"is not one load_model rebuilds"):
            load_model(bad)
    assert not marker.exists(), "the planted module was imported"


def test_registered_model_classes_load(tmp_path):
    from lstmx.train.checkpoint import register_model_class

    @register_model_class
    class Tiny(SequenceModel):
        pass

    config = {"cell": "lstm", "input_size": 2, "hidden_size": 4, "num_layers": 1,
              "output_size": 1, "seed": 3}
    path = save_checkpoint(tmp_path / "tiny.npz", Tiny(config))
    assert type(load_model(path)) is Tiny
    with pytest.raises(TypeError, match="from_config"):
        register_model_class(object)


def test_a_killed_saves_temporary_is_removed_by_the_next_save(tmp_path):
    path = tmp_path / "run.npz"
    net, opt, _ = trained()
    save_checkpoint(path, net, opt)
    stale = [tmp_path / ".run.npz.abc123.tmp", tmp_path / ".run.npz.x.tmp"]
    for p in stale:
        p.write_bytes(b"half a checkpoint")
    other = tmp_path / ".other.npz.abc.tmp"  # another checkpoint's: not ours to remove
    other.write_bytes(b"x")
    save_checkpoint(path, net, opt)
    assert not any(p.exists() for p in stale)
    assert other.exists()
    assert load_checkpoint(path).optimizer["type"] == "Adam"


def test_restore_is_all_or_nothing(tmp_path):
    """An optimizer of another type is refused after the model's weights would have been
    loaded: nothing, the weights included, may change."""
    from lstmx.optim import SGD

    net, opt, _ = trained(seed=0)
    path = save_checkpoint(tmp_path / "run.npz", net, opt)
    other, _, _ = trained(seed=1)
    before = other.state_dict()
    sgd = SGD(other.parameters(), lr=0.1)
    with pytest.raises(ValueError, match=r"run\.npz: cannot restore .*Adam.*nothing was changed"):
        load_checkpoint(path).restore(other, sgd)
    for name, value in other.state_dict().items():
        np.testing.assert_array_equal(value, before[name], err_msg=name)
    assert sgd.step_count == 0


def damaged(tmp_path, name, edit):
    """A copy of a good checkpoint whose JSON header went through ``edit(header)``."""
    net, opt, _ = trained()
    path = save_checkpoint(tmp_path / "good.npz", net, opt)
    with np.load(path, allow_pickle=False) as f:
        data = dict(f)
    header = json.loads(data["header"].tobytes().decode("utf-8"))
    header = edit(header) or header
    text = header if isinstance(header, str) else json.dumps(header)  # str: raw JSON text
    data["header"] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    bad = tmp_path / name
    np.savez(bad, **data)
    return bad


def nested_extra(header, depth=100_000):
    """The header's JSON text with ``extra`` nested ``depth`` lists deep."""
    header["extra"] = "@"
    return json.dumps(header).replace('"@"', "[" * depth + "]" * depth)


@pytest.mark.parametrize("edit", [
    lambda h: h.__setitem__("parameters", [1, 2]),
    lambda h: h.__setitem__("model", "Net"),
    lambda h: h["model"].__setitem__("class", 5),
    lambda h: h.__setitem__("parameters", {"w": {"__ndarray__": "no/such/array"}}),
    lambda h: h.__setitem__("parameters", {"w": 3.0}),
    lambda h: h.__setitem__("optimizer", "adam"),
    lambda h: h.__setitem__("rng", None),
    lambda h: h.__delitem__("parameters"),
    nested_extra,
], ids=["parameters-list", "model-str", "class-int", "missing-array", "parameter-float",
        "optimizer-str", "rng-none", "no-parameters", "deep-extra"])
def test_structural_damage_is_one_value_error(tmp_path, edit):
    bad = damaged(tmp_path, "bad.npz", edit)
    with pytest.raises(ValueError, match=r"bad\.npz is (a damaged lstmx checkpoint|not an lstmx checkpoint)"):
        load_checkpoint(bad)
