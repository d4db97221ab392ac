"""lstmx.optim: optimizers, clipping and schedules against torch.optim, state round trips,
dtype and in-place contracts, and errors that name the argument."""

import json
import math

import numpy as np
import pytest
from conftest import assert_close

import lstmx
from lstmx.nn import Parameter
from lstmx.optim import (SGD, Adam, AdamW, CosineWarmupLR, ExponentialLR, ReduceLROnPlateau,
                         RMSprop, StepLR, clip_grad_norm, clip_grad_value)

SHAPES = [(3, 4), (5,), (2, 1, 3)]

# (optimizer name, keyword arguments): every option on and off, names as torch.optim's.
CONFIGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.3)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.1, weight_decay=0.05)),
    ("SGD", dict(lr=0.1, momentum=0.5, nesterov=True, weight_decay=0.05)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, alpha=0.5, eps=1e-3)),
    ("RMSprop", dict(lr=0.01, momentum=0.9)),
    ("RMSprop", dict(lr=0.01, centered=True)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5, weight_decay=0.1)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, weight_decay=0.1)),
    ("Adam", dict(lr=0.01, betas=(0.5, 0.9), eps=1e-4)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, weight_decay=0.3, betas=(0.8, 0.99))),
    ("AdamW", dict(lr=0.01, weight_decay=0.0)),
]
OURS = {"SGD": SGD, "RMSprop": RMSprop, "Adam": Adam, "AdamW": AdamW}
IDS = [f"{name}-{'-'.join(f'{k}={v}' for k, v in kw.items())}" for name, kw in CONFIGS]


def make_params(rng, dtype=np.float64):
    return [Parameter(rng.standard_normal(s).astype(dtype)) for s in SHAPES]


def gradient_sequence(rng, steps, dtype=np.float64):
    return [[rng.standard_normal(s).astype(dtype) for s in SHAPES] for _ in range(steps)]


def run(opt, params, grads, lr_change_at=None):
    """Apply ``grads`` step by step; return the parameter values after every step."""
    trajectory = []
    for t, step_grads in enumerate(grads):
        if t == lr_change_at:
            opt.lr = opt.lr * 0.3
        for p, g in zip(params, step_grads):
            p.grad[...] = g
        opt.step()
        trajectory.append([p.data.copy() for p in params])
    return trajectory


@pytest.mark.parametrize("name,kwargs", CONFIGS, ids=IDS)
def test_matches_torch_optim(name, kwargs, rng):
    torch = pytest.importorskip("torch")
    params = make_params(rng)
    grads = gradient_sequence(rng, 20)
    tparams = [torch.tensor(p.data.copy(), requires_grad=True) for p in params]
    topt = getattr(torch.optim, name)(tparams, **kwargs)
    ours = run(OURS[name](params, **kwargs), params, grads, lr_change_at=10)
    for t, step_grads in enumerate(grads):
        if t == 10:
            topt.param_groups[0]["lr"] *= 0.3
        for tp, g in zip(tparams, step_grads):
            tp.grad = torch.from_numpy(g.copy())
        topt.step()
        for k, tp in enumerate(tparams):
            assert_close(f"{name} step {t + 1} param {k}", ours[t][k],
                         tp.detach().numpy(), 1e-9)


@pytest.mark.parametrize("name,kwargs", CONFIGS, ids=IDS)
def test_float32_in_place_and_close_to_float64(name, kwargs, rng):
    params64 = make_params(rng)
    params32 = [Parameter(p.data.astype(np.float32)) for p in params64]
    arrays32 = [p.data for p in params32]
    grads = gradient_sequence(rng, 6)
    opt32 = OURS[name](params32, **kwargs)
    run32 = run(opt32, params32, [[g.astype(np.float32) for g in gs] for gs in grads])
    run64 = run(OURS[name](params64, **kwargs), params64, grads)
    for k, p in enumerate(params32):
        assert p.data is arrays32[k], f"params[{k}].data was replaced, not updated in place"
        assert p.data.dtype == np.float32, f"params[{k}] became {p.data.dtype}"
        assert_close(f"float32 param {k}", run32[-1][k], run64[-1][k], 1e-4)
    for key, value in opt32.state.items():
        assert value.dtype == np.float32, f"state {key} has dtype {value.dtype}"


@pytest.mark.parametrize("name,kwargs", CONFIGS, ids=IDS)
def test_state_dict_restores_identical_trajectory(name, kwargs, rng):
    params = make_params(rng)
    grads = gradient_sequence(rng, 15)
    opt = OURS[name](params, **kwargs)
    run(opt, params, grads[:7])
    saved = opt.state_dict()
    saved_params = [p.data.copy() for p in params]
    # The snapshot is JSON (scalars, lists, strings) plus arrays, as a checkpoint stores it.
    json.dumps({k: v for k, v in saved.items() if k != "state"})
    assert saved["step"] == 7 and saved["type"] == name
    assert all(isinstance(v, np.ndarray) for v in saved["state"].values())
    expected = run(opt, params, grads[7:])

    fresh = [Parameter(a) for a in saved_params]
    restored = OURS[name](fresh, lr=0.5)        # other hyper-parameters: loading sets them
    restored.load_state_dict(saved)
    assert restored.lr == kwargs["lr"]
    got = run(restored, fresh, grads[7:])
    for t in range(len(expected)):
        for k in range(len(SHAPES)):
            np.testing.assert_array_equal(got[t][k], expected[t][k],
                                          err_msg=f"step {t + 8} param {k} after restore")


def test_load_state_dict_checks_before_writing(rng):
    params = make_params(rng)
    opt = Adam(params, lr=0.01)
    run(opt, params, gradient_sequence(rng, 2))
    before = opt.state_dict()
    with pytest.raises(ValueError, match="SGD"):
        opt.load_state_dict(SGD(params, lr=0.1).state_dict())
    bad_shape = opt.state_dict()
    bad_shape["state"]["1.m"] = np.zeros(4)
    with pytest.raises(ValueError, match="1.m"):
        opt.load_state_dict(bad_shape)
    bad_key = opt.state_dict()
    bad_key["state"]["7.m"] = np.zeros(2)
    with pytest.raises(ValueError, match="7.m"):
        opt.load_state_dict(bad_key)
    bad_lr = opt.state_dict()
    bad_lr["lr"] = -1.0
    with pytest.raises(ValueError, match="lr"):
        opt.load_state_dict(bad_lr)
    with pytest.raises(ValueError, match="parameters"):
        Adam(params[:2]).load_state_dict(before)
    after = opt.state_dict()
    assert after["lr"] == before["lr"] and after["step"] == before["step"]
    for key in before["state"]:
        np.testing.assert_array_equal(after["state"][key], before["state"][key])


def test_load_state_dict_casts_to_parameter_dtype(rng):
    params = make_params(rng)
    opt = RMSprop(params, momentum=0.9, centered=True)
    run(opt, params, gradient_sequence(rng, 3))
    params32 = [Parameter(p.data.astype(np.float32)) for p in params]
    opt32 = RMSprop(params32)
    opt32.load_state_dict(opt.state_dict())
    assert opt32.centered and opt32.momentum == 0.9
    assert sorted(opt32.state) == sorted(opt.state)
    assert all(v.dtype == np.float32 for v in opt32.state.values())


def test_zero_grad_and_step_reads_grad():
    w = Parameter(np.ones(3))
    opt = SGD([w], lr=0.5)
    w.grad[:] = [1.0, 2.0, 3.0]
    opt.step()
    np.testing.assert_array_equal(w.data, [0.5, 0.0, -0.5])
    opt.zero_grad()
    np.testing.assert_array_equal(w.grad, np.zeros(3))
    opt.step()
    np.testing.assert_array_equal(w.data, [0.5, 0.0, -0.5])


def test_works_on_a_layer():
    lstm = lstmx.LSTM(3, 4, seed=0)
    before = [p.data.copy() for p in lstm.parameters()]
    x = np.random.default_rng(0).standard_normal((5, 2, 3)).astype(np.float32)
    y, _ = lstm(x)
    lstm.backward(np.ones_like(y))
    opt = Adam(lstm.parameters(), lr=0.1)
    opt.step()
    for (name, p), b in zip(lstm.named_parameters(), before):
        assert p.data.dtype == np.float32
        assert not np.array_equal(p.data, b), f"{name} was not updated"


# --- clipping -------------------------------------------------------------------------------

@pytest.mark.parametrize("max_norm", [0.1, 1.0, 3.0, 100.0])
def test_clip_grad_norm_matches_torch(max_norm, rng):
    torch = pytest.importorskip("torch")
    params = make_params(rng)
    for p in params:
        p.grad[...] = rng.standard_normal(p.shape)
    tparams = [torch.zeros(p.shape, dtype=torch.float64, requires_grad=True) for p in params]
    for tp, p in zip(tparams, params):
        tp.grad = torch.from_numpy(p.grad.copy())
    want = float(torch.nn.utils.clip_grad_norm_(tparams, max_norm))
    got = clip_grad_norm(params, max_norm)
    assert isinstance(got, float)
    assert abs(got - want) <= 1e-12 * want, f"norm {got}, torch {want}"
    for k, (p, tp) in enumerate(zip(params, tparams)):
        assert_close(f"clipped grad {k}", p.grad, tp.grad.numpy(), 1e-12)


def test_clip_grad_norm_float32_and_edge_cases(rng):
    params = make_params(rng, np.float32)
    for p in params:
        p.grad[...] = rng.standard_normal(p.shape)
    flat = np.concatenate([p.grad.astype(np.float64).ravel() for p in params])
    norm = clip_grad_norm(params, 0.5)
    assert abs(norm - np.linalg.norm(flat)) <= 1e-6 * norm
    after = np.sqrt(sum(float(np.sum(p.grad.astype(np.float64) ** 2)) for p in params))
    assert abs(after - 0.5) < 1e-5, f"norm after clipping {after}, expected 0.5"
    assert all(p.grad.dtype == np.float32 for p in params)
    assert clip_grad_norm([], 1.0) == 0.0
    w = Parameter(np.zeros(2))
    w.grad[:] = [np.inf, 1.0]
    assert clip_grad_norm([w], 1.0) == math.inf
    np.testing.assert_array_equal(w.grad, [np.inf, 1.0])


def test_clip_grad_value_matches_torch(rng):
    torch = pytest.importorskip("torch")
    params = make_params(rng)
    for p in params:
        p.grad[...] = rng.standard_normal(p.shape)
    tgrads = [torch.from_numpy(p.grad.copy()) for p in params]
    tparams = [torch.zeros(p.shape, dtype=torch.float64, requires_grad=True) for p in params]
    for tp, g in zip(tparams, tgrads):
        tp.grad = g
    torch.nn.utils.clip_grad_value_(tparams, 0.3)
    clip_grad_value(params, 0.3)
    for k, (p, tp) in enumerate(zip(params, tparams)):
        np.testing.assert_array_equal(p.grad, tp.grad.numpy(), err_msg=f"grad {k}")
    assert max(float(np.abs(p.grad).max()) for p in params) == 0.3


# --- schedules ------------------------------------------------------------------------------

def lr_sequence(opt, sched, metrics):
    lrs = []
    for m in metrics:
        lrs.append(opt.lr)
        sched.step(m) if isinstance(sched, ReduceLROnPlateau) else sched.step()
    return lrs


def torch_lr_sequence(torch, make, metrics):
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.5)
    sched = make(opt)
    lrs = []
    for m in metrics:
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step(m) if m is not None else sched.step()
    return lrs


def plateau_metrics(rng, n=40):
    """Falls, then hovers: enough flat stretches to trigger several cuts."""
    return list(np.concatenate([np.linspace(1.0, 0.5, 6),
                                0.5 + 0.02 * rng.standard_normal(n - 6)]))


@pytest.mark.parametrize("name,kwargs", [
    ("StepLR", dict(step_size=3, gamma=0.5)),
    ("StepLR", dict(step_size=1)),
    ("ExponentialLR", dict(gamma=0.9)),
    ("ReduceLROnPlateau", dict(patience=2)),
    ("ReduceLROnPlateau", dict(mode="max", patience=1, factor=0.5)),
    ("ReduceLROnPlateau", dict(patience=1, threshold_mode="abs", threshold=0.05, cooldown=2)),
    ("ReduceLROnPlateau", dict(patience=0, factor=0.3, min_lr=0.02)),
])
def test_schedule_matches_torch(name, kwargs, rng):
    torch = pytest.importorskip("torch")
    plateau = name == "ReduceLROnPlateau"
    metrics = plateau_metrics(rng) if plateau else [None] * 25
    if kwargs.get("mode") == "max":
        metrics = [1.0 - m for m in metrics]
    ours = {"StepLR": StepLR, "ExponentialLR": ExponentialLR,
            "ReduceLROnPlateau": ReduceLROnPlateau}[name]
    opt = SGD([Parameter(np.zeros(1))], lr=0.5)
    got = lr_sequence(opt, ours(opt, **kwargs), metrics)
    want = torch_lr_sequence(
        torch, lambda o: getattr(torch.optim.lr_scheduler, name)(o, **kwargs), metrics)
    assert_close(f"{name} lr sequence", got, want, 1e-12)
    if plateau:
        assert len(set(want)) >= 3, "the metric sequence should trigger at least two cuts"


def cosine_warmup_formula(n, base, warmup, total, min_lr):
    """The documented schedule, written out independently of the implementation."""
    if n < warmup:
        return base * (n + 1) / warmup
    if n >= total:
        return min_lr
    return min_lr + 0.5 * (base - min_lr) * (1 + math.cos(math.pi * (n - warmup) / (total - warmup)))


@pytest.mark.parametrize("warmup,total,min_lr", [(5, 25, 0.01), (0, 10, 0.0), (4, 4, 0.0)])
def test_cosine_warmup_follows_its_formula(warmup, total, min_lr):
    base = 0.1
    opt = Adam([Parameter(np.zeros(1))], lr=base)
    sched = CosineWarmupLR(opt, warmup, total, min_lr=min_lr)
    lrs = lr_sequence(opt, sched, [None] * (total + 5))
    want = [cosine_warmup_formula(n, base, warmup, total, min_lr) for n in range(total + 5)]
    assert_close("cosine warm-up lr", lrs, want, 1e-14)
    if warmup:
        assert lrs[0] == pytest.approx(base / warmup) and lrs[warmup - 1] == pytest.approx(base)
        assert np.all(np.diff(lrs[:warmup]) > 0), "warm-up must increase"
    assert np.all(np.diff(lrs[warmup:]) <= 1e-15), "decay must not increase"
    assert lrs[total:] == [min_lr] * 5
    if (total - warmup) % 2 == 0 and total > warmup:
        assert lrs[warmup + (total - warmup) // 2] == pytest.approx((base + min_lr) / 2)


@pytest.mark.parametrize("make", [
    lambda o: StepLR(o, 4, 0.5),
    lambda o: ExponentialLR(o, 0.8),
    lambda o: CosineWarmupLR(o, 3, 12, min_lr=0.001),
    lambda o: ReduceLROnPlateau(o, patience=1, cooldown=1),
], ids=["StepLR", "ExponentialLR", "CosineWarmupLR", "ReduceLROnPlateau"])
def test_schedule_state_dict_continues_identically(make, rng):
    metrics = plateau_metrics(rng, 30)
    opt = SGD([Parameter(np.zeros(1))], lr=0.5)
    sched = make(opt)
    lr_sequence(opt, sched, metrics[:13])
    saved_opt, saved = opt.state_dict(), sched.state_dict()
    json.dumps(saved)
    expected = lr_sequence(opt, sched, metrics[13:])

    opt2 = SGD([Parameter(np.zeros(1))], lr=0.01)
    sched2 = make(opt2)
    sched2.load_state_dict(saved)
    opt2.load_state_dict(saved_opt)
    assert sched2.last_step == 13
    assert lr_sequence(opt2, sched2, metrics[13:]) == expected
    with pytest.raises(ValueError, match="StepLR|ExponentialLR"):
        sched2.load_state_dict(ExponentialLR(opt2, 0.5).state_dict()
                               if isinstance(sched2, StepLR) else StepLR(opt2, 2).state_dict())


# --- errors ---------------------------------------------------------------------------------

def one_param():
    return [Parameter(np.zeros(2))]


@pytest.mark.parametrize("build,argument", [
    (lambda: SGD(one_param(), lr=-0.1), "lr"),
    (lambda: SGD(one_param(), lr=float("nan")), "lr"),
    (lambda: SGD(one_param(), lr=0.1, momentum=-0.5), "momentum"),
    (lambda: SGD(one_param(), lr=0.1, dampening=1.5), "dampening"),
    (lambda: SGD(one_param(), lr=0.1, nesterov=True), "nesterov"),
    (lambda: SGD(one_param(), lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "nesterov"),
    (lambda: SGD(one_param(), lr=0.1, weight_decay=-1e-4), "weight_decay"),
    (lambda: RMSprop(one_param(), alpha=1.0), "alpha"),
    (lambda: RMSprop(one_param(), eps=-1e-8), "eps"),
    (lambda: RMSprop(one_param(), momentum=-0.1), "momentum"),
    (lambda: Adam(one_param(), betas=(1.0, 0.999)), r"betas\[0\]"),
    (lambda: Adam(one_param(), betas=(0.9, -0.1)), r"betas\[1\]"),
    (lambda: Adam(one_param(), lr=-1e-3), "lr"),
    (lambda: AdamW(one_param(), weight_decay=-0.01), "weight_decay"),
    (lambda: SGD([], lr=0.1), "params"),
    (lambda: SGD([one_param()[0]] * 2, lr=0.1), r"params\[1\]"),
    (lambda: StepLR(SGD(one_param(), lr=0.1), step_size=0), "step_size"),
    (lambda: ExponentialLR(SGD(one_param(), lr=0.1), gamma=-0.5), "gamma"),
    (lambda: CosineWarmupLR(SGD(one_param(), lr=0.1), 10, 5), "warmup_steps"),
    (lambda: CosineWarmupLR(SGD(one_param(), lr=0.1), 0, 0), "total_steps"),
    (lambda: CosineWarmupLR(SGD(one_param(), lr=0.1), 1, 5, min_lr=0.2), "min_lr"),
    (lambda: ReduceLROnPlateau(SGD(one_param(), lr=0.1), mode="avg"), "mode"),
    (lambda: ReduceLROnPlateau(SGD(one_param(), lr=0.1), factor=1.0), "factor"),
    (lambda: ReduceLROnPlateau(SGD(one_param(), lr=0.1), patience=-1), "patience"),
    (lambda: ReduceLROnPlateau(SGD(one_param(), lr=0.1), threshold_mode="x"), "threshold_mode"),
    (lambda: clip_grad_norm(one_param(), -1.0), "max_norm"),
    (lambda: clip_grad_value(one_param(), -0.5), "clip_value"),
])
def test_bad_hyper_parameters_raise_value_error(build, argument):
    with pytest.raises(ValueError, match=argument):
        build()


@pytest.mark.parametrize("build,argument", [
    (lambda: SGD([np.zeros(3)], lr=0.1), r"params\[0\]"),
    (lambda: Adam(lstmx.LSTM(2, 3, seed=0)), "params"),
    (lambda: Adam(Parameter(np.zeros(3))), "params"),
    (lambda: Adam(5), "params"),
    (lambda: Adam([Parameter(np.zeros(3, np.int64))]), r"params\[0\]"),
    (lambda: SGD(one_param(), lr="0.1"), "lr"),
    (lambda: SGD(one_param(), lr=0.1, nesterov=1), "nesterov"),
    (lambda: Adam(one_param(), betas=0.9), "betas"),
    (lambda: StepLR(object(), 2), "optimizer"),
    (lambda: clip_grad_norm([np.zeros(2)], 1.0), r"params\[0\]"),
    (lambda: ReduceLROnPlateau(SGD(one_param(), lr=0.1)).step("low"), "metric"),
])
def test_wrong_types_raise_type_error(build, argument):
    with pytest.raises(TypeError, match=argument):
        build()


def test_lr_setter_and_grad_shape_are_checked():
    w = Parameter(np.ones(3))
    opt = Adam([w])
    with pytest.raises(ValueError, match="lr"):
        opt.lr = -0.5
    assert opt.lr == 1e-3
    w.grad = np.ones(4)
    with pytest.raises(ValueError, match=r"params\[0\].grad"):
        opt.step()
    np.testing.assert_array_equal(w.data, np.ones(3))
    assert opt.step_count == 0
