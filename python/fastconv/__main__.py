"""``python -m fastconv``: the command line (see ``python -m fastconv --help``)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
