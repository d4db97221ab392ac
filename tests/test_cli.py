"""The ``lstmx`` command as a new user meets it: bad arguments are refused before any work
starts, as one ``lstmx <command>: error: ...`` line and exit status 2, never a traceback."""

import argparse
import os
import re
import signal
import subprocess
import sys
import time

import pytest

import lstmx
from lstmx import bench
from lstmx.charlm import command as charlm_command
from lstmx.cli import main
from lstmx.seq2seq import command as seq2seq_command


def run_cli(*args, cwd=None):
    """``python -m lstmx.cli ARGS`` in a fresh process: (exit code, stdout, stderr)."""
    proc = subprocess.run([sys.executable, "-m", "lstmx.cli", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=300,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))
    return proc.returncode, proc.stdout, proc.stderr


BAD = [
    (["translate", "--demo", "--minutes", "-1"], "argument --minutes: must be > 0.0, got -1"),
    (["translate", "--demo", "--minutes", "0"], "argument --minutes: must be > 0.0, got 0"),
    (["translate", "--demo", "--epochs", "0"], "argument --epochs: must be >= 1, got 0"),
    (["translate", "--demo", "--beam-size", "0"], "argument --beam-size: must be >= 1, got 0"),
    (["translate", "--demo", "--lr", "nan"], "argument --lr: expected a finite number"),
    (["translate", "--demo", "--dropout", "1"], "argument --dropout: must be >= 0.0 and < 1.0"),
    (["translate", "--demo", "--hidden-dim", "x"], "argument --hidden-dim: expected an integer"),
    (["translate", "--demo", "--threads", "0"], "argument --threads: must be >= 1"),
    (["translate", "--data", "."], "argument --data: . is a directory, expected a file"),
    (["translate", "--checkpoint", "missing.npz"], "argument --checkpoint: no such file"),
    (["translate", "just text"], "one of the arguments --demo --data --checkpoint is required"),
    (["generate", "--demo", "--minutes", "-1"], "argument --minutes: must be > 0.0, got -1"),
    (["generate", "--demo", "--temperature", "-1"], "argument --temperature: must be >= 0.0"),
    (["generate", "--demo", "--top-k", "0"], "argument --top-k: must be >= 1, got 0"),
    (["generate", "--demo", "--length", "-5"], "argument --length: must be >= 1, got -5"),
    (["generate", "--text", "."], "argument --text: . is a directory, expected a file"),
    (["generate", "--demo", "--val-fraction", "1.5"], "argument --val-fraction: must be"),
    (["bench", "--threads", "-2"], "argument --threads: must be >= 1 and <= "),
    (["bench", "--threads", "0"], "argument --threads: must be >= 1 and <= "),
    (["bench", "--repeats", "0"], "argument --repeats: must be >= 1, got 0"),
]


@pytest.mark.parametrize("argv,message", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_arguments_are_one_line_and_exit_2(argv, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert f"lstmx {argv[0]}: error: " in err and message in err, err
    assert "Traceback" not in err
    assert not any(tmp_path.iterdir())


def test_nothing_is_written_by_a_refused_run(tmp_path):
    code, out, err = run_cli("translate", "--demo", "--minutes", "-1", cwd=tmp_path)
    assert code == 2 and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_binary_text_is_refused(tmp_path, capsys):
    blob = tmp_path / "blob.bin"
    blob.write_bytes(bytes(range(256)) * 10)
    with pytest.raises(SystemExit) as stop:
        main(["generate", "--text", str(blob)])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "lstmx generate: error: " in err and "binary file" in err


def test_a_damaged_checkpoint_is_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    for command in ("translate", "generate"):
        with pytest.raises(SystemExit) as stop:
            main([command, "--checkpoint", str(bad), "text"] if command == "translate"
                 else [command, "--checkpoint", str(bad)])
        assert stop.value.code == 2
        err = capsys.readouterr().err
        assert f"lstmx {command}: error: {bad} is not an lstmx checkpoint" in err


def test_version(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"lstmx {lstmx.__version__}"


COMMANDS = {"translate": seq2seq_command, "generate": charlm_command, "bench": bench}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_option_has_help_and_shows_its_default(command, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    sub = COMMANDS[command].add_parser(argparse.ArgumentParser().add_subparsers())
    for action in sub._actions:
        if action.help == argparse.SUPPRESS or not action.option_strings or \
                action.option_strings == ["-h", "--help"]:
            continue
        assert action.help, f"{command} {action.option_strings} has no help text"
        if action.default not in (None, False):
            assert f"(default: {action.default})" in text, \
                f"{command} {action.option_strings}: default {action.default!r} not shown"
    assert "``" not in text


@pytest.mark.parametrize("flag", ["--hidden-dim", "--embedding-dim", "--num-layers", "--threads",
                                  "--seed", "--epochs", "--minutes"])
def test_both_training_commands_share_flag_names(flag, capsys):
    for command in ("translate", "generate"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert flag in capsys.readouterr().out, f"{command} lacks {flag}"


def test_generate_accepts_the_old_flag_spellings(tmp_path, capsys):
    corpus = tmp_path / "tiny.txt"
    corpus.write_text("the quick brown fox jumps over the lazy dog. " * 40)
    assert main(["generate", "--text", str(corpus), "--epochs", "1", "--hidden", "16",
                 "--embed", "8", "--layers", "1", "--seq-len", "16", "--batch-size", "4",
                 "--length", "10", "--temperature", "0"]) == 0
    out = capsys.readouterr().out
    assert "1 epochs" in out and "CharLM" in out


def test_generate_epochs_and_seed_reproduce(tmp_path, capsys):
    corpus = tmp_path / "tiny.txt"
    corpus.write_text("the quick brown fox jumps over the lazy dog. " * 40)
    args = ["generate", "--text", str(corpus), "--epochs", "2", "--hidden-dim", "16",
            "--embedding-dim", "8", "--seq-len", "16", "--batch-size", "4", "--length", "40",
            "--temperature", "0.8", "--minutes", "5", "--threads", "1"]
    outs = []
    for _ in range(2):
        assert main(args) == 0
        out = capsys.readouterr().out
        # losses, bits per character and samples; not the speeds and times
        outs.append([re.sub(r"[\d,.]+ tok/s .*|\d+ s\b.*", "", line)
                     for line in out.splitlines()])
    assert outs[0] == outs[1]
    assert any("epoch 2" in line for line in outs[0])


def test_ctrl_c_during_training_saves_and_says_how_to_go_on(tmp_path):
    """SIGINT while a char model trains: no traceback, exit 130, the checkpoint of the last
    complete epoch named with the command that samples from it."""
    corpus = tmp_path / "text.txt"
    corpus.write_text("the quick brown fox jumps over the lazy dog. " * 4000)
    save = tmp_path / "char.npz"
    proc = subprocess.Popen(
        [sys.executable, "-m", "lstmx.cli", "generate", "--text", str(corpus), "--minutes", "5",
         "--hidden-dim", "32", "--embedding-dim", "8", "--seq-len", "16", "--batch-size", "8",
         "--save", str(save)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=dict(os.environ, OMP_NUM_THREADS="1"))
    deadline = time.monotonic() + 120
    while not save.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert save.exists(), "no epoch finished in time"
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err)
    assert "Traceback" not in err
    assert f"lstmx generate --checkpoint {save}" in err
    assert f"--resume {save}" in err
    code, out, err = run_cli("generate", "--checkpoint", str(save), "--length", "5")
    assert code == 0, err


def _tiny_files(tmp_path):
    from lstmx.data.tatoeba_en_fr import corpus_pairs
    pairs = corpus_pairs()[:3000:3]
    (tmp_path / "pairs.txt").write_text("".join(f"{a}\t{b}\n" for a, b in pairs),
                                        encoding="utf-8")
    (tmp_path / "text.txt").write_text("the quick brown fox jumps over the lazy dog. " * 300)


def test_generate_resume_continues_exactly(tmp_path, capsys):
    """1 epoch, then --resume to 2: the same model as 2 epochs straight."""
    _tiny_files(tmp_path)
    base = ["generate", "--text", str(tmp_path / "text.txt"), "--hidden-dim", "16",
            "--embedding-dim", "8", "--seq-len", "16", "--batch-size", "8", "--length", "20",
            "--temperature", "0", "--threads", "1"]

    def summary():
        out = capsys.readouterr().out
        line = next(x for x in out.splitlines() if "epochs in" in x)
        return re.sub(r"in \d+ s", "", line.split("; checkpoint")[0]), out.split("---")[-1]
    assert main(base + ["--epochs", "2", "--save", str(tmp_path / "a.npz")]) == 0
    straight = summary()
    assert main(base + ["--epochs", "1", "--save", str(tmp_path / "b.npz")]) == 0
    capsys.readouterr()
    assert main(base + ["--epochs", "2", "--save", str(tmp_path / "b.npz"), "--resume",
                        str(tmp_path / "b.npz")]) == 0
    assert summary() == straight


def test_translate_resume_continues_exactly(tmp_path, capsys):
    _tiny_files(tmp_path)
    base = ["translate", "--data", str(tmp_path / "pairs.txt"), "--vocab-size", "400",
            "--hidden-dim", "8", "--embedding-dim", "8", "--batch-size", "32",
            "--beam-size", "1", "--no-progress", "--threads", "1",
            "--attention-png", str(tmp_path / "att.png")]

    def kept():
        return next(x for x in capsys.readouterr().out.splitlines() if x.startswith("kept"))
    assert main(base + ["--epochs", "2", "--save", str(tmp_path / "s.npz")]) == 0
    straight = kept()
    assert main(base + ["--epochs", "1", "--save", str(tmp_path / "r.npz")]) == 0
    capsys.readouterr()
    assert main(base + ["--epochs", "2", "--save", str(tmp_path / "r.npz"), "--resume",
                        str(tmp_path / "r.training.npz")]) == 0
    assert kept() == straight
    with pytest.raises(SystemExit) as stop:
        main(["translate", "--checkpoint", str(tmp_path / "r.npz"), "--resume",
              str(tmp_path / "r.training.npz"), "hello"])
    assert stop.value.code == 2
