"""The ``lstmx`` command.

    lstmx translate --demo                      train and evaluate the built-in en->fr demo
    lstmx translate --data FILE --minutes N     train on a Tatoeba/Anki file
    lstmx translate --checkpoint PATH "text"    translate with a saved model
    lstmx generate --demo                       character language model on Python's own docs
    lstmx generate --text FILE --minutes N      train a char model on a text file
    lstmx generate --checkpoint PATH --prime s  sample from a saved char model
    lstmx bench                                 time the kernels (and PyTorch, if installed)

Each subcommand lives next to what it drives (``seq2seq/command.py``, ``charlm/command.py``,
``bench.py``) as ``add_parser(subparsers)`` and ``run(args)``; this module only dispatches.
"""

import argparse
import importlib
import sys

_COMMANDS = {
    "translate": "lstmx.seq2seq.command",
    "generate": "lstmx.charlm.command",
    "bench": "lstmx.bench",
}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="lstmx", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", metavar="{" + ",".join(_COMMANDS) + "}")
    sub.required = True
    modules = {}
    for name, path in _COMMANDS.items():
        modules[name] = importlib.import_module(path)
        modules[name].add_parser(sub)
    args = parser.parse_args(argv)
    return modules[args.command].run(args)


if __name__ == "__main__":
    sys.exit(main())
