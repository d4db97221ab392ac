"""The float32 GEMM under every kernel: lstmx's own AVX-512 GEMM where the CPU has AVX-512,
the BLAS otherwise (``build_info()["gemm_float32"]`` says which). Checked against a float64
NumPy product over edge shapes (tiles of 12 rows × 32 columns and K-blocks of 256 cut them
unevenly), both transposes, alpha/beta, and the packed-operand path the recurrent step uses."""

import itertools
import os
import subprocess
import sys

import numpy as np
import pytest

import lstmx
from lstmx import _core

AVX512 = lstmx.build_info()["gemm_float32"].startswith("lstmx avx512")

SHAPES = [(1, 1, 1), (5, 7, 3), (12, 32, 256), (13, 33, 257), (25, 31, 1), (64, 100, 513),
          (300, 65, 40), (7, 1000, 17)]


def _product(rng, m, n, k, ta, tb):
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(np.float32)
    b = rng.standard_normal((n, k) if tb else (k, n)).astype(np.float32)
    exact = (a.T if ta else a).astype(np.float64) @ (b.T if tb else b).astype(np.float64)
    return a, b, exact


@pytest.mark.parametrize("m,n,k", SHAPES)
@pytest.mark.parametrize("ta,tb", list(itertools.product([False, True], repeat=2)))
def test_gemm_matches_float64_product(rng, m, n, k, ta, tb):
    a, b, exact = _product(rng, m, n, k, ta, tb)
    for alpha, beta in [(1.0, 0.0), (1.0, 1.0), (0.5, -2.0)]:
        c0 = rng.standard_normal((m, n)).astype(np.float32)
        want = alpha * exact + beta * c0.astype(np.float64)
        c = c0.copy()
        if beta == 0.0:
            c[:] = np.nan  # beta = 0 must not read C
        _core._gemm(a, b, c, ta, tb, alpha, beta, False)
        scale = np.abs(alpha * exact).max() + np.abs(beta * c0).max() + 1e-30
        assert np.all(np.isfinite(c))
        assert np.abs(c - want).max() / scale < 2e-6 * max(1.0, np.sqrt(k) / 8)


@pytest.mark.skipif(not AVX512, reason="the packed-operand path exists only with the AVX-512 GEMM")
@pytest.mark.parametrize("m,n,k", SHAPES)
@pytest.mark.parametrize("tb", [False, True])
def test_packed_operand_product(rng, m, n, k, tb):
    a, b, exact = _product(rng, m, n, k, False, tb)
    c = rng.standard_normal((m, n)).astype(np.float32)
    want = exact + c.astype(np.float64)
    _core._gemm(a, b, c, False, tb, 1.0, 1.0, True)
    assert np.abs(c - want).max() / (np.abs(want).max() + 1e-30) < 2e-6 * max(1.0, np.sqrt(k) / 8)


def test_gemm_rejects_disagreeing_shapes():
    a = np.zeros((3, 4), np.float32)
    with pytest.raises(ValueError, match="shapes"):
        _core._gemm(a, np.zeros((5, 2), np.float32), np.zeros((3, 2), np.float32))


def test_kernels_agree_with_the_blas_path(tmp_path):
    """The same LSTM/GRU/RNN forward and backward with LSTMX_GEMM=blas (a fresh process: the
    choice is made once) agree with this process's GEMM to float32 rounding. H = 40 is three
    blocks of 16 units, so at B <= 4 the panel product meets both a paired and a lone panel
    group (GRU's 3 and RNN's 1 group per block), on 1 and 2 threads. T = 19 runs B = 1's
    in-loop input product (chunks of 8 steps, AVX-512 only) through two chunks and a partial
    one."""
    script = tmp_path / "run.py"
    script.write_text(
        "import sys, numpy as np, lstmx\n"
        "lstmx._core._set_cost_rule(False)  # 2 threads even at these small sizes\n"
        "rng = np.random.default_rng(3)\n"
        "out = {}\n"
        "for name, cls in (('lstm', lstmx.LSTM), ('gru', lstmx.GRU), ('rnn', lstmx.RNN)):\n"
        "    layer = cls(24, 40, dtype=np.float32, seed=1)\n"
        "    for threads in (1, 2):\n"
        "        lstmx.set_num_threads(threads)\n"
        "        for B in (1, 3, 20):\n"
        "            key = f'{name}{B}t{threads}'\n"
        "            x = rng.standard_normal((19, B, 24)).astype(np.float32)\n"
        "            y = layer(x)[0]\n"
        "            dx = layer.backward(np.ones_like(y))[0]\n"
        "            out[f'{key}_y'], out[f'{key}_dx'] = y, dx\n"
        "            for p, v in layer.named_parameters():\n"
        "                out[f'{key}_{p}'] = v.grad.copy()\n"
        "            layer.zero_grad()\n"
        "out['gemm'] = np.array(lstmx.build_info()['gemm_float32'])\n"
        "np.savez(sys.argv[1], **out)\n")
    results = {}
    for choice in ("default", "blas"):
        env = dict(os.environ)
        env.pop("LSTMX_GEMM", None)
        if choice == "blas":
            env["LSTMX_GEMM"] = "blas"
        path = tmp_path / f"{choice}.npz"
        subprocess.run([sys.executable, str(script), str(path)], check=True, env=env)
        results[choice] = dict(np.load(path))
    assert str(results["blas"].pop("gemm")) == "blas"
    results["default"].pop("gemm")
    assert results["default"].keys() == results["blas"].keys()
    for key, want in results["blas"].items():
        np.testing.assert_allclose(results["default"][key], want, rtol=1e-4, atol=1e-5, err_msg=key)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ta,tb", list(itertools.product([False, True], repeat=2)))
def test_matmul_on_lstmx_threads(rng, dtype, ta, tb, fixed_threads):
    """lstmx._matmul.mm (the products of the decoders and output layers) equals NumPy's,
    on 1 and 2 threads, with and without accumulation into ``out``."""
    from lstmx._matmul import linear, mm

    tol = 1e-5 if dtype == np.float32 else 1e-12
    for m, n, k in [(3, 5, 7), (64, 1024, 256), (200, 33, 130)]:
        a = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
        b = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
        want = (a.T if ta else a) @ (b.T if tb else b)
        scale = np.abs(want).max()
        for threads in (1, 2):
            fixed_threads(threads)
            got = mm(a, b, ta=ta, tb=tb)
            acc = np.ones((m, n), dtype)
            assert mm(a, b, ta=ta, tb=tb, out=acc, beta=1.0) is acc
            assert got.dtype == dtype and got.shape == (m, n)
            assert np.abs(got - want).max() <= tol * scale
            assert np.abs(acc - (want + 1)).max() <= tol * scale
    x = rng.standard_normal((4, 6, 9)).astype(dtype)
    w = rng.standard_normal((5, 9)).astype(dtype)
    bias = rng.standard_normal(5).astype(dtype)
    np.testing.assert_allclose(linear(x, w, bias), x @ w.T + bias, rtol=tol, atol=tol * 10)
    # non-contiguous operands are copied, integer ones fall back to NumPy
    np.testing.assert_allclose(mm(a.T.copy().T, b, ta=ta, tb=tb), want, rtol=tol, atol=tol * scale)
    ints = np.arange(6).reshape(2, 3)
    np.testing.assert_array_equal(mm(ints, ints, tb=True), ints @ ints.T)


def test_matmul_rejects_bad_operands():
    a = np.zeros((3, 4), np.float32)
    with pytest.raises(ValueError, match="inner dimensions"):
        _core.matmul(a, np.zeros((5, 2), np.float32))
    with pytest.raises(TypeError, match="dtype"):
        _core.matmul(a, np.zeros((4, 2), np.float64))
    with pytest.raises(ValueError, match="2-D"):
        _core.matmul(np.zeros((2, 3, 4), np.float32), a)
    with pytest.raises(ValueError, match="C-contiguous"):
        _core.matmul(np.zeros((4, 3), np.float32).T, a)
    with pytest.raises(ValueError, match="shape"):
        _core.matmul(a, np.zeros((4, 2), np.float32), out=np.zeros((3, 3), np.float32))
    with pytest.raises(ValueError, match="overlap"):
        _core.matmul(a, np.zeros((4, 4), np.float32), out=a)
    with pytest.raises(ValueError, match="needs out"):
        _core.matmul(a, np.zeros((4, 2), np.float32), beta=1.0)
