"""Helpers that write model source for generated tests."""

from __future__ import annotations

import numpy as np


def declaration(value) -> str:
    """The type that declares ``value`` as data: int or real, scalar, vector or matrix."""
    arr = np.asarray(value)
    is_int = arr.dtype.kind in "iu"
    if arr.ndim == 0:
        return "int" if is_int else "real"
    if arr.ndim == 1:
        return f"int[{arr.shape[0]}]" if is_int else f"vector[{arr.shape[0]}]"
    return f"int[{arr.shape[0]}, {arr.shape[1]}]" if is_int else \
        f"matrix[{arr.shape[0]}, {arr.shape[1]}]"
