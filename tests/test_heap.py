"""lstmx.heap: freed memory kept in the heap during training, once, never against the user."""

import os
import subprocess
import sys

import pytest

SCRIPT = ("from lstmx.heap import keep_freed_memory; "
          "print(keep_freed_memory(), keep_freed_memory())")


def run(**env):
    environ = {k: v for k, v in os.environ.items()
               if k not in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")}
    environ.update(env)
    return subprocess.run([sys.executable, "-c", SCRIPT], env=environ, capture_output=True,
                          text=True, check=True).stdout.split()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_applied_once():
    assert run() == ["True", "False"]


@pytest.mark.parametrize("name", ["MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES"])
def test_the_users_malloc_settings_win(name):
    value = "glibc.malloc.trim_threshold=1000000" if name == "GLIBC_TUNABLES" else "1000000"
    assert run(**{name: value}) == ["False", "False"]
