"""A demo corpus that needs no download: docstrings of Python's own standard library.

English prose with a technical accent, a few hundred thousand characters, on every machine
that has Python. The text depends on the Python version (docstrings change between
releases), not on anything installed beside it.
"""

from __future__ import annotations

import importlib
import inspect
import warnings

# Pure-Python modules with long, well-written docstrings.
MODULES = ("argparse", "base64", "bisect", "calendar", "collections", "configparser",
           "contextlib", "csv", "dataclasses", "datetime", "decimal", "difflib", "email.message",
           "enum", "fractions", "ftplib", "functools", "gettext", "heapq", "http.client",
           "http.cookiejar", "imaplib", "inspect", "ipaddress", "json", "logging",
           "mailbox", "pathlib", "pickle", "pprint", "pydoc", "queue", "random", "shlex",
           "shutil", "smtplib", "statistics", "string", "subprocess", "tarfile", "tempfile",
           "textwrap", "threading", "typing", "unittest.case", "urllib.parse",
           "urllib.request", "uuid", "warnings", "zipfile")


def _docs(obj, seen):
    """Docstrings of ``obj`` and of its public members (one level into classes)."""
    doc = inspect.getdoc(obj)
    if doc and doc not in seen:
        seen.add(doc)
        yield doc
    if not (inspect.ismodule(obj) or inspect.isclass(obj)):
        return
    for name, member in sorted(vars(obj).items()):
        if name.startswith("_"):
            continue
        if inspect.ismodule(obj) and getattr(member, "__module__", None) != obj.__name__:
            continue  # imported from elsewhere
        if inspect.isclass(member) and inspect.ismodule(obj):
            yield from _docs(member, seen)
        elif inspect.isfunction(member) or inspect.ismethod(member) or isinstance(member, property):
            doc = inspect.getdoc(member)
            if doc and doc not in seen:
                seen.add(doc)
                yield doc


def stdlib_docstrings(max_chars: int | None = None) -> str:
    """The docstrings of ``MODULES`` and their public classes, functions and methods,
    separated by blank lines (str). ``max_chars``: cut the text there (None: all).

    Example::

        >>> text = stdlib_docstrings()
        >>> len(text) > 100_000
        True
    """
    seen: set[str] = set()
    parts: list[str] = []
    with warnings.catch_warnings():  # reading deprecated members' docs warns; not our concern
        warnings.simplefilter("ignore", DeprecationWarning)
        for name in MODULES:
            try:
                module = importlib.import_module(name)
            except ImportError:  # a stripped-down Python may lack one; the rest still serve
                continue
            parts.extend(_docs(module, seen))
    text = "\n\n".join(parts) + "\n"
    return text if max_chars is None else text[:max_chars]
