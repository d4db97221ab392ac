"""lstmx.distributed: the flat gradient buffer and its weighting (no MPI needed), and, under
``mpiexec -n 2`` (skipped without mpi4py), data-parallel training that equals one process on
the union batch, resume on another number of ranks, failures that stop every rank, and the
CLI training commands."""

import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

import lstmx
from lstmx import distributed, threads
from lstmx.charlm import BPTTBatches
from lstmx.distributed import pack_gradients, unpack_gradients
from lstmx.nn import Parameter

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.join(HERE, "mpi_scripts")
# float64 parameters after 20 steps: N ranks with batch b against one process with N·b
EQUAL = 1e-10


def _params(rng, dtype=np.float64):
    ps = [Parameter(rng.standard_normal((3, 4)).astype(dtype)),
          Parameter(rng.standard_normal(5).astype(dtype))]
    for p in ps:
        p.grad[...] = rng.standard_normal(p.shape)
    return ps


# -- the buffer, without MPI -------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_summed_buffers_give_the_token_weighted_mean_gradient(dtype):
    rng = np.random.default_rng(0)
    ranks = [_params(rng, dtype) for _ in range(3)]
    counts = [7, 0, 2]
    grads = [[p.grad.copy() for p in ps] for ps in ranks]
    total = sum(pack_gradients(ps, n, r, 3) for r, (ps, n) in enumerate(zip(ranks, counts)))
    assert total.dtype == dtype and total.shape == (12 + 5 + 1 + 3,)
    target = _params(rng, dtype)
    n, failed = unpack_gradients(total, target, 3)
    assert (n, failed) == (9, [])
    for k, p in enumerate(target):
        want = sum(c * g[k].astype(np.float64) for c, g in zip(counts, grads)) / 9
        tol = 1e-6 if dtype == np.float32 else 1e-15
        np.testing.assert_allclose(p.grad, want, rtol=tol, atol=tol,
                                   err_msg=f"parameter {k}")
        assert p.grad.dtype == dtype


def test_a_failed_rank_sends_zeros_and_its_flag():
    rng = np.random.default_rng(1)
    a, b = _params(rng), _params(rng)
    buf = pack_gradients(a, 4, 0, 2) + pack_gradients(b, 5, 1, 2, failed=True)
    np.testing.assert_array_equal(buf[:17], 4 * np.concatenate([p.grad.ravel() for p in a]))
    before = [p.grad.copy() for p in a]
    assert unpack_gradients(buf, a, 2) == (0, [1])
    for p, g in zip(a, before):  # untouched: the step is abandoned
        np.testing.assert_array_equal(p.grad, g)


def test_no_tokens_anywhere_gives_zero_gradients():
    rng = np.random.default_rng(2)
    a = _params(rng)
    assert unpack_gradients(pack_gradients(a, 0, 0, 1), a, 1) == (0, [])
    assert all(not p.grad.any() for p in a)


def test_bad_buffers_and_counts_are_refused():
    a = _params(np.random.default_rng(3))
    with pytest.raises(ValueError, match="rank must lie in"):
        pack_gradients(a, 1, 2, 2)
    with pytest.raises(ValueError, match="count must be >= 0"):
        pack_gradients(a, -1, 0, 2)
    with pytest.raises(ValueError, match="expected \\(20,\\)"):
        unpack_gradients(np.zeros(7), a, 2)


def test_one_process_is_rank_0_of_1_and_collectives_return_at_once():
    if distributed.is_distributed():
        pytest.skip("the test process itself runs under MPI")
    assert (distributed.rank(), distributed.size()) == (0, 1)
    a = _params(np.random.default_rng(4))
    grads = [p.grad.copy() for p in a]
    assert distributed.allreduce_gradients(a, 3) == 3
    for p, g in zip(a, grads):
        np.testing.assert_array_equal(p.grad, g)
    np.testing.assert_array_equal(distributed.allreduce_sum([1.5, 2]), [1.5, 2.0])
    assert distributed.any_rank(True) and not distributed.any_rank(False)
    assert distributed.broadcast_object({"x": 1}) == {"x": 1}
    with pytest.raises(KeyError):
        distributed.allreduce_gradients(a, 3, error=KeyError("mine"))


def test_ranks_sharing_cpus_divide_the_budget():
    env: dict[str, str] = {}
    assert threads.rank_cpu_budget(1, env, affinity={0, 1, 2, 3}) is None
    assert threads.rank_cpu_budget(2, env, affinity={0, 1, 2, 3}) == 2
    assert threads.rank_cpu_budget(8, env, affinity={0, 1, 2, 3}) == 1
    # the user sized each process
    assert threads.rank_cpu_budget(2, {"OMP_NUM_THREADS": "3"}, affinity={0, 1}) is None


def test_bptt_shards_are_the_rows_of_each_window():
    whole = BPTTBatches(np.arange(200), batch_size=6, seq_len=7)
    parts = [whole.shard(r, 4) for r in range(4)]
    assert [len(p) for p in parts] == [len(whole)] * 4
    for k, window in enumerate(whole):
        rows = [list(p)[k] for p in parts]
        for r, w in enumerate(rows):
            np.testing.assert_array_equal(w.ids, window.ids[:, r::4])
            np.testing.assert_array_equal(w.targets, window.targets[:, r::4])
            assert w.reset == window.reset
    assert len(BPTTBatches(np.arange(50), 2, 5).shard(3, 4)) == 0  # no rows for rank 3


# -- under mpiexec -n 2 --------------------------------------------------------------------

def _mpiexec():
    pytest.importorskip("mpi4py")
    for candidate in (os.path.join(os.path.dirname(sys.executable), "mpiexec"),
                      shutil.which("mpiexec")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    pytest.skip("no mpiexec (pip install mpich)")


def run_ranks(args, cwd, n=2, timeout=60, rank_dirs=None):
    """``mpiexec -n n python ARGS`` with this test's lstmx; (returncode, stdout, stderr).
    ``rank_dirs``: one working directory per rank instead of ``cwd`` for all."""
    env = dict(os.environ)
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(lstmx.__file__)))
    env["PYTHONPATH"] = os.pathsep.join([package_root, SCRIPTS]
                                        + ([env["PYTHONPATH"]] if "PYTHONPATH" in env else []))
    env["OMP_NUM_THREADS"] = "1"
    command = [_mpiexec(), "-n", str(n), sys.executable, *args]
    if rank_dirs is not None:
        command = [_mpiexec()]
        for r, d in enumerate(rank_dirs):
            command += [":"] * (r > 0) + ["-n", "1", "-wdir", str(d), sys.executable, *args]
    proc = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture
def steps_module():
    sys.path.insert(0, SCRIPTS)
    try:
        import train_steps
        yield train_steps
    finally:
        sys.path.remove(SCRIPTS)


def assert_params_equal(model, path, tol=EQUAL):
    saved = np.load(path)
    for name, value in model.state_dict().items():
        err = np.abs(saved[name] - value).max() / max(np.abs(value).max(), 1e-300)
        assert err <= tol, f"{name}: relative difference {err:.3e} > {tol:g}"


CASES = [("sgd", "mse", None), ("adam", "mse", None), ("sgd", "masked-ce", None),
         ("adam", "masked-mse", None), ("adam", "masked-ce", 0.5)]


@pytest.mark.parametrize("optimizer,loss,clip", CASES)
def test_two_ranks_step_as_one_process_on_the_union_batch(optimizer, loss, clip, tmp_path,
                                                          steps_module):
    """20 steps: 2 ranks with batch 3 against 1 process with batch 6 (the last case clips:
    the union's gradient norm)."""
    ckpt = tmp_path / "run.npz"
    code, out, err = run_ranks([os.path.join(SCRIPTS, "train_steps.py"), "--optimizer",
                                optimizer, "--loss", loss, "--batch", "3", "--steps", "20",
                                "--out", str(tmp_path / "two.npz"), "--checkpoint", str(ckpt)]
                               + (["--clip", str(clip)] if clip else []), tmp_path)
    assert code == 0, err
    model, trainer = steps_module.build(optimizer, loss, clip, distributed=False)
    data = steps_module.batches(loss, 6, 120)
    trainer.fit(data, epochs=1)
    assert_params_equal(model, tmp_path / "two.npz")
    saved_loss = float(np.load(tmp_path / "two.npz")["train_loss"][0])
    assert abs(saved_loss - trainer.history[0]["train_loss"]) <= 1e-12 * abs(saved_loss)
    if clip:
        # resume the 2-rank checkpoint in this one process: epoch 2 as an unbroken run's
        resumed, again = steps_module.build(optimizer, loss, clip, distributed=False)
        again.resume(ckpt)
        again.fit(data, epochs=2)
        trainer.fit(data, epochs=2)
        for name, value in model.state_dict().items():
            np.testing.assert_allclose(resumed.state_dict()[name], value, rtol=0,
                                       atol=EQUAL * np.abs(value).max(), err_msg=name)


def test_char_model_ranks_read_the_rows_of_the_union_batch(tmp_path):
    sys.path.insert(0, SCRIPTS)
    try:
        import char_steps
    finally:
        sys.path.remove(SCRIPTS)
    code, out, err = run_ranks([os.path.join(SCRIPTS, "char_steps.py"), "2",
                                str(tmp_path / "two.npz")], tmp_path)
    assert code == 0, err
    assert_params_equal(char_steps.train(4), tmp_path / "two.npz")


def test_seq2seq_ranks_deal_the_rows_of_the_single_process_batches(tmp_path):
    """Seq2Seq.fit on 2 ranks with batch 4 ends as one process with batch 8: the same
    bucketed batches, each rank half of every batch's rows (one step has a single row,
    none for rank 1)."""
    sys.path.insert(0, SCRIPTS)
    try:
        import seq2seq_fit
    finally:
        sys.path.remove(SCRIPTS)
    code, out, err = run_ranks([os.path.join(SCRIPTS, "seq2seq_fit.py"), "4",
                                str(tmp_path / "two.npz")], tmp_path)
    assert code == 0, err
    assert_params_equal(seq2seq_fit.train(8, distributed_=False), tmp_path / "two.npz")


def test_sharded_seq2seq_batches_deal_sorted_rows():
    from lstmx.data import ShardedSeq2SeqBatches, seq2seq_batches
    rng = np.random.default_rng(6)
    ids = [(list(rng.integers(4, 30, rng.integers(1, 9))), list(rng.integers(4, 30,
                                                                         rng.integers(1, 9))))
           for _ in range(20)]
    whole = ShardedSeq2SeqBatches(ids, 6, seed=3)
    plain = seq2seq_batches(ids, 6, seed=3)
    assert len(whole) == len(plain) == 4
    for a, b in zip(whole, plain):  # iterating gives seq2seq_batches' batches
        for x, y in zip(a.inputs + (a.targets, a.mask), b.inputs + (b.targets, b.mask)):
            np.testing.assert_array_equal(x, y)
    parts = [whole.shard(r, 4) for r in range(4)]
    assert all(len(p) == 4 for p in parts)
    for k, batch in enumerate(plain):
        got = [p[k] for p in parts if p[k] is not None]
        assert sum(g.src.shape[1] for g in got) == batch.src.shape[1]
        assert sum(g.num_tokens for g in got) == batch.num_tokens
        rows = sorted(zip(batch.src_lengths.tolist(), batch.tgt_lengths.tolist()))
        for r, g in enumerate(got):  # rows r, r + 4, ... of the batch sorted by length
            assert list(zip(g.src_lengths.tolist(), g.tgt_lengths.tolist())) == rows[r::4]
    # 20 = 3·6 + 2: ranks 2 and 3 have no rows in the short batch
    assert [p[k] is None for p in parts for k in range(4)].count(True) == 2
    with pytest.raises(ValueError, match="rank must lie in"):
        whole.shard(4, 4)


def test_a_rank_that_raises_stops_every_rank_with_its_name(tmp_path):
    code, out, err = run_ranks([os.path.join(SCRIPTS, "train_steps.py"), "--fail", "1", "3"],
                               tmp_path, timeout=60)
    assert code != 0
    assert "[rank 0]" in err and "RankFailure: rank 1 failed at epoch 1, step 3" in err, err
    assert "ValueError: injected failure" in err


def _tiny_files(tmp_path):
    from lstmx.data.tatoeba_en_fr import corpus_pairs
    pairs = corpus_pairs()[:3000:3]
    (tmp_path / "pairs.txt").write_text("".join(f"{a}\t{b}\n" for a, b in pairs),
                                        encoding="utf-8")
    (tmp_path / "text.txt").write_text("the quick brown fox jumps over the lazy dog. " * 300)


def test_cli_translate_and_generate_under_mpiexec(tmp_path):
    """Each rank in a directory of its own: rank 0 alone prints and writes files; the
    ranks stop together when the time is up (generate has no --epochs here)."""
    _tiny_files(tmp_path)
    zero, one = tmp_path / "rank0", tmp_path / "rank1"
    zero.mkdir()
    one.mkdir()
    code, out, err = run_ranks(
        ["-m", "lstmx.cli", "translate", "--data", str(tmp_path / "pairs.txt"), "--vocab-size",
         "400", "--hidden-dim", "8", "--embedding-dim", "8", "--batch-size", "16",
         "--beam-size", "1", "--no-progress", "--epochs", "2", "--minutes", "0.5", "--save",
         "t.npz"], tmp_path, timeout=120, rank_dirs=[zero, one])
    assert code == 0, err
    assert "on 2 MPI ranks" in out
    assert len(re.findall(r"^training: ", out, re.M)) == 1, out
    assert len(re.findall(r"test BLEU", out)) == 1, out
    code, out, err = run_ranks(
        ["-m", "lstmx.cli", "generate", "--text", str(tmp_path / "text.txt"), "--hidden-dim",
         "16", "--embedding-dim", "8", "--seq-len", "16", "--batch-size", "4", "--minutes",
         "0.02", "--save", "c.npz", "--length", "10", "--temperature", "0"],
        tmp_path, timeout=120, rank_dirs=[zero, one])
    assert code == 0, err
    assert len(re.findall(r"--- temperature 0 ---", out)) == 1, out
    assert {"t.npz", "t.training.npz", "c.npz"} <= {p.name for p in zero.iterdir()}
    assert list(one.iterdir()) == []


def test_each_rank_draws_its_own_dropout_masks():
    """Ranks above 0 get their own generator streams (jumped), rank 0 keeps its own: the same
    masks on every rank would waste dropout on N different batches."""
    from lstmx.train.trainer import _rank_streams

    def masks(rank):
        layer = lstmx.LSTM(3, 4, seed=5, recurrent_dropout=0.5, num_layers=2)
        if rank is not None:
            _rank_streams(layer, rank)
        return layer._mask((8, 4), 0.5)

    np.testing.assert_array_equal(masks(0), masks(None))
    assert not np.array_equal(masks(0), masks(1))
    np.testing.assert_array_equal(masks(1), masks(1))
