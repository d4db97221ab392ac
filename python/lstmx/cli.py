"""The ``lstmx`` command.

    lstmx translate --demo                      train and evaluate the built-in en->fr demo
    lstmx translate --data FILE --minutes N     train on a Tatoeba/Anki file
    lstmx translate --checkpoint PATH "text"    translate with a saved model
    lstmx translate --checkpoint PATH --input FILE --output FILE
    lstmx generate --demo                       character language model on Python's own docs
    lstmx generate --text FILE --minutes N      train a char model on a text file
    lstmx generate --checkpoint PATH --prime s  sample from a saved char model
    lstmx bleu HYPOTHESES REFERENCES...         corpus BLEU of files, as sacreBLEU
    lstmx bench                                 time the kernels (and PyTorch, if installed)

Each subcommand lives next to what it drives (``seq2seq/command.py``, ``charlm/command.py``,
``metrics/command.py``, ``bench.py``) as ``add_parser(subparsers)`` and ``run(args)``; this module only dispatches.

Under ``mpiexec -n N`` the training commands train data-parallel (``lstmx.distributed``).
"""

import argparse
import importlib
import sys

_COMMANDS = {
    "translate": "lstmx.seq2seq.command",
    "generate": "lstmx.charlm.command",
    "bleu": "lstmx.metrics.command",
    "bench": "lstmx.bench",
}

DESCRIPTION = ("lstmx: LSTM, GRU and RNN layers with C++/OpenMP kernels. Train and use a "
               "translator (translate), a character model (generate), score translations "
               "(bleu), or time the kernels (bench). `lstmx COMMAND --help` describes each.")


def main(argv=None):
    from . import __version__, distributed

    parser = argparse.ArgumentParser(prog="lstmx", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"lstmx {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="{" + ",".join(_COMMANDS) + "}")
    sub.required = True
    modules, parsers = {}, {}
    for name, path in _COMMANDS.items():
        modules[name] = importlib.import_module(path)
        parsers[name] = modules[name].add_parser(sub)
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # to repeat the command
    command = parsers[args.command]
    args.parser = command  # a subcommand refuses what parsing could not check with .error
    # under mpiexec: a rank that stops early stops the job (no rank left in a collective)
    with distributed.exit_guard():
        try:
            code = modules[args.command].run(args)
        except KeyboardInterrupt:
            print(f"\n{command.prog}: interrupted", file=sys.stderr)
            code = 130
        except (OSError, ValueError) as e:  # a bad input file found while reading it
            command.error(str(e))
        if code and distributed.is_distributed():
            raise SystemExit(code)
    return code


if __name__ == "__main__":
    sys.exit(main())
