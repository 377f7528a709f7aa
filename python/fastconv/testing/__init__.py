"""Test helpers for fastconv: float64 NumPy references (``reference``) and friends."""
