"""The ``fastconv`` command line: ``info`` (how this copy was built, what it found), ``bench``
(the layer suite, validated, then timed against PyTorch and NumPy side by side) and ``train`` (the
Keras seed CNN on the bundled digits with fastconv.keras)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import List, Optional

from . import bench, info, train

__all__ = ["main", "build_parser"]

_COMMANDS = (info, bench, train)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fastconv" if not sys.argv[0].endswith("__main__.py") else "python -m fastconv",
        description="fastconv: convolution and pooling kernels, forward and backward.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for command in _COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """Run one command; returns its exit status (0 success, 1 failure, 2 usage error)."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `fastconv bench | head`: stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
