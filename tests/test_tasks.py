"""Generated tasks: layouts, determinism, splits and baselines (lstmx.data.tasks)."""

import numpy as np
import pytest

from lstmx.data.tasks import (bit_accuracy, copy_task, four_numbers, last_value_mse,
                              make_batches, series_split, series_windows, sine_series)


def test_copy_task_layout():
    x, y = copy_task(5, 4, bits=3, seed=0)
    assert x.shape == (9, 5, 4) and y.shape == (4, 5, 3)
    assert x.dtype == np.float32 and y.dtype == np.float32
    np.testing.assert_array_equal(x[:4, :, :3], y)          # the bits to copy come first
    np.testing.assert_array_equal(x[4, :, 3], np.ones(5))   # then the delimiter
    assert not x[:4, :, 3].any() and not x[5:].any() and not x[4, :, :3].any()
    assert set(np.unique(y)) <= {0.0, 1.0}


def test_copy_task_seeded():
    a, _ = copy_task(8, 6, seed=3)
    b, _ = copy_task(8, 6, seed=3)
    c, _ = copy_task(8, 6, seed=4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_copy_task_bad_arguments():
    with pytest.raises(ValueError, match="length"):
        copy_task(2, 0)
    with pytest.raises(ValueError, match="num_sequences"):
        copy_task(-1, 3)


def test_bit_accuracy():
    logits = np.array([[2.0, -1.0], [0.5, -3.0]])
    targets = np.array([[1.0, 0.0], [0.0, 0.0]])
    assert bit_accuracy(logits, targets) == 0.75
    with pytest.raises(ValueError, match="shape"):
        bit_accuracy(logits, targets[0])


def test_sine_series_trend_and_noise():
    quiet = sine_series(4000, num_features=2, noise=0.0, trend=4.0, seed=1, dtype=np.float64)
    assert quiet.shape == (4000, 2)
    # the trend lifts the second half above the first by about half the total rise
    rise = quiet[2000:].mean(axis=0) - quiet[:2000].mean(axis=0)
    assert np.all(rise > 1.0) and np.all(rise < 3.5)
    noisy = sine_series(4000, num_features=2, noise=0.3, trend=4.0, seed=1, dtype=np.float64)
    assert abs(np.std(noisy - quiet) - 0.3) < 0.02


def test_series_windows():
    s = np.arange(20, dtype=np.float32).reshape(10, 2)
    x, y = series_windows(s, 3)
    assert x.shape == (3, 7, 2) and y.shape == (7, 2)
    for i in range(7):
        np.testing.assert_array_equal(x[:, i], s[i:i + 3])
        np.testing.assert_array_equal(y[i], s[i + 3])
    with pytest.raises(ValueError, match="too short"):
        series_windows(s, 10)


def test_series_split_is_a_cut_in_time():
    d = series_split(num_steps=500, num_features=3, window=10, val_fraction=0.2, seed=0)
    assert d.train_x.shape == (10, 390, 3) and d.val_x.shape == (10, 90, 3)
    np.testing.assert_array_equal(d.train_y[-1], d.series[399])   # last training target
    np.testing.assert_array_equal(d.val_x[0, 0], d.series[400])   # first validation input


def test_last_value_mse():
    x = np.zeros((4, 3, 2))
    x[-1] = 1.0
    y = np.full((3, 2), 3.0)
    assert last_value_mse(x, y) == 4.0
    with pytest.raises(ValueError, match="same N"):
        last_value_mse(x, y[:2])


def test_four_numbers_labels():
    x, y = four_numbers(2000, seed=0)
    assert x.shape == (4, 2000, 1) and y.shape == (2000, 1)
    np.testing.assert_array_equal(y[:, 0], (x[3, :, 0] > x[0, :, 0]).astype(np.float32))
    assert 0.45 < y.mean() < 0.55
    assert x.min() >= 0 and x.max() < 1


def test_make_batches():
    x = np.arange(2 * 7 * 3, dtype=np.float32).reshape(2, 7, 3)
    y = np.arange(7, dtype=np.float32)[:, None]
    batches = make_batches(x, y, 3)
    assert [b[0].shape[1] for b in batches] == [3, 3, 1]
    np.testing.assert_array_equal(np.concatenate([b[0] for b in batches], axis=1), x)
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), y)
    assert all(b[0].flags.c_contiguous for b in batches)
    tm = make_batches(x, np.zeros((5, 7, 1), np.float32), 4, targets_time_major=True)
    assert [b[1].shape for b in tm] == [(5, 4, 1), (5, 3, 1)]
    with pytest.raises(ValueError, match="sequences"):
        make_batches(x, y[:5], 3)
