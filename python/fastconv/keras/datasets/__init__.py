"""Data sets read from local files (nothing is downloaded): ``digits`` (bundled) and ``mnist`` (your files)."""

from . import digits, mnist

__all__ = ["digits", "mnist"]
