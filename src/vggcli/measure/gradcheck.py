"""Numerical gradients by central differences: the check that needs no reference output.

For a scalar function L of an array x, dL/dx[i] ≈ (L(x + h·e_i) − L(x − h·e_i)) / 2h, with an
error of order h². Run in float64 it validates any backward pass (lab manual §3.3.7, question 3):
compare it with the analytic gradient through :func:`relative_error`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


def numeric_gradient(loss: Callable[[], float], x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """dL/dx by central differences. ``loss`` reads ``x``, which is perturbed in place, restored."""
    grad = np.zeros(x.shape, dtype=np.float64)
    flat = x.reshape(-1)  # a view: x must be contiguous
    if not np.shares_memory(flat, x):
        raise ValueError("numeric_gradient needs a contiguous array")
    for i in range(flat.size):
        saved = flat[i]
        flat[i] = saved + h
        plus = loss()
        flat[i] = saved - h
        minus = loss()
        flat[i] = saved
        grad.reshape(-1)[i] = (plus - minus) / (2 * h)
    return grad


def relative_error(actual: np.ndarray, expected: np.ndarray) -> float:
    """max |actual − expected| / max |expected| (0 when both are 0)."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    scale = np.abs(expected).max(initial=0.0)
    diff = np.abs(actual - expected).max(initial=0.0)
    return float(diff / scale) if scale > 0 else float(diff)


@dataclass(frozen=True)
class Check:
    """One check's outcome: its name, the largest relative error found and what it may be."""

    name: str
    max_rel_error: float
    tolerance: float

    @property
    def passed(self) -> bool:
        return bool(self.max_rel_error <= self.tolerance)  # NaN fails
