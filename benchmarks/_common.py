"""What the benchmark programs share: the named sizes, FLOP counts, the description of the
machine and libraries written into every result, and small helpers.

The programs import it as ``_common`` (Python puts a script's own folder on ``sys.path``).
NumPy's OpenBLAS is told to let its threads sleep right after each call before NumPy loads
(``OPENBLAS_THREAD_TIMEOUT``): its spinning workers would otherwise take the cores of the next
lstmx or torch call (measured: a 7 ms call took 15-97 ms right after a NumPy matmul). A value
the user set wins. lstmx is imported before torch: both need an OpenMP runtime named
libgomp.so.1, and the first one loaded serves both.
"""

import argparse
import ctypes
import datetime
import json
import os
import platform
import subprocess
from pathlib import Path

os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

import numpy as np  # noqa: E402

import lstmx  # noqa: E402

try:
    import torch
except ImportError:
    torch = None

# name: (T, B, I, H)
SIZES = {
    "nmt-s": (50, 32, 256, 256),
    "nmt-m": (50, 64, 512, 512),
    "wide": (100, 16, 1024, 1024),
    "lat-b1": (200, 1, 256, 256),
    "lat-b1-h512": (200, 1, 512, 512),
}
GATES = {"lstm": 4, "gru": 3, "rnn": 1}


def forward_flops(cell, T, B, I, H, layers=1, directions=1):
    """GEMM FLOPs of one forward pass: input projection 2TBGHI + recurrence 2TBGH² per layer
    and direction; layer l > 0 reads the previous layer's directions·H outputs."""
    total = 0
    for layer in range(layers):
        inputs = I if layer == 0 else directions * H
        total += directions * 2 * T * B * GATES[cell] * H * (inputs + H)
    return total


def mode_flops(cell, mode, shape, layers=1, directions=1):
    """Forward F; forward + backward 3F (backward = dX, dW_ih, dW_hh, dh = 2F)."""
    f = forward_flops(cell, *shape, layers=layers, directions=directions)
    return f if mode == "fwd" else 3 * f


# -- machine and library description -------------------------------------------------------


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def loaded_libraries(*needles):
    """Paths of shared libraries in this process whose path contains any of ``needles``."""
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if ".so" in line}
    except OSError:
        return []
    return sorted(p for p in paths if any(n in os.path.basename(p) for n in needles))


def _numpy_openblas():
    """ctypes handle on NumPy's OpenBLAS and its (set, get) thread functions, or None."""
    for path in loaded_libraries("openblas"):
        if "numpy" not in path:
            continue
        lib = ctypes.CDLL(path)
        for setter, getter in (("scipy_openblas_set_num_threads64_", "scipy_openblas_get_num_threads64_"),
                               ("openblas_set_num_threads64_", "openblas_get_num_threads64_"),
                               ("openblas_set_num_threads", "openblas_get_num_threads")):
            if hasattr(lib, setter) and hasattr(lib, getter):
                return getattr(lib, setter), getattr(lib, getter)
    return None


def set_numpy_blas_threads(n):
    """Best effort: NumPy's BLAS (used by the reference and the GEMM ceiling) to n threads.
    Returns the thread count it reports afterwards, or None where it cannot be reached."""
    funcs = _numpy_openblas()
    if funcs is None:
        return None
    setter, getter = funcs
    setter(ctypes.c_int(n))
    return int(getter())


def git_revision():
    here = Path(__file__).resolve().parent
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=here, capture_output=True,
                             text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (rev + ("+dirty" if dirty else "")) if rev else None


def available_cores():
    """Cores this process may run on (its affinity mask where the OS has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def pyplot():
    """matplotlib.pyplot on the file-only Agg backend, or None (reported) when missing."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("could not draw: matplotlib is not installed (pip install 'lstmx[plot]')")
        return None
    return plt


def save_figure(fig, path):
    """Save and close ``fig`` at ``path`` (parent folders made); a failed write is reported."""
    fig.tight_layout()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=120)
        print(f"wrote {path}")
    except OSError as e:
        print(f"could not write {path}: {e}")
    import matplotlib.pyplot as plt  # loaded already: fig came from it
    plt.close(fig)


def machine_info(threads, numpy_threads):
    info = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "cpu_model": cpu_model(),
        "os_cpu_count": os.cpu_count(),
        "cpus_available": available_cores(),
        "load_average_at_start": [round(v, 2) for v in os.getloadavg()],
        "platform": platform.platform(),
        "python": platform.python_version(),
        "threads_requested": threads,
        "lstmx_version": lstmx.__version__,
        "lstmx_threads": lstmx.get_num_threads(),
        "lstmx_build_info": lstmx.build_info(),
        "lstmx_git": git_revision(),
        "numpy_version": np.__version__,
        "numpy_blas_threads": numpy_threads,
        "openmp_runtimes_loaded": loaded_libraries("libgomp", "libiomp", "libomp"),
        "environment": {k: v for k, v in sorted(os.environ.items())
                        if k.startswith(("OMP_", "GOMP_", "KMP_", "OPENBLAS_", "MKL_"))},
    }
    if torch is not None:
        info.update({
            "torch_version": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "torch_mkldnn_available": torch.backends.mkldnn.is_available(),
            "torch_mkldnn_enabled": bool(torch.backends.mkldnn.enabled),
        })
    return info


def write_json(path, result):
    """Write ``result`` to ``path`` (a Path; parent folders made); a benchmark reports a
    failed write instead of stopping."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {path}")
    except OSError as e:
        print(f"could not write {path}: {e}")


def comma_list(choices):
    def parse(text):
        items = [s.strip() for s in text.split(",") if s.strip()]
        bad = [s for s in items if s not in choices]
        if bad or not items:
            raise argparse.ArgumentTypeError(f"{bad or text!r}: choose from {', '.join(choices)}")
        return items
    return parse
