"""L-BFGS on the image, with box constraints by projection.

The quasi-Newton method of Nocedal & Wright, *Numerical Optimization* (2nd ed.), §7.2: the
direction d = −H·∇f, with H the inverse-Hessian estimate built from the last ``memory`` pairs

    s = x_{k+1} − x_k,   y = ∇f(x_{k+1}) − ∇f(x_k)

by the two-loop recursion (Algorithm 7.4) from H₀ = γ·I, γ = sᵀy / yᵀy of the newest pair
(eq. 7.20). A pair is kept only when sᵀy > 0 (the curvature condition), so H stays positive
definite.

Box constraints (the pixel range): an element at a bound whose gradient pushes it outward is held
still for the step (it is left out of the direction), and the step follows the projected path
x(t) = clip(x + t·d). The step length t backtracks from 1 (halving, Algorithm 3.1) until the loss
falls by at least 10⁻⁴ of what the gradient promises along the path (the Armijo condition); the
first step, with no curvature known yet, moves the element of largest gradient by
``first_step``. Every step lowers the loss.

Why not scipy's L-BFGS-B, which vggcli used before: it adds about 0.09 s of bookkeeping per
iteration at 512 px (float64 copies of the image, the compact form of the bounds), a tenth of
a step's time, and more with a longer memory (30 pairs instead of 10 took fewer steps but no
less time); and its own BLAS threads competed with numpy's. Figures: README, "Style transfer"
and ``benchmarks/stylize.py --lbfgs-only``.

Arrays are float32 and keep the image's shape ([1, 3, H, W]); scalars are Python floats.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

ARMIJO = 1e-4  # the fraction of the promised decrease a step must achieve
MAX_BACKTRACKS = 30  # halvings of the step before the line search gives up (t = 2⁻³⁰)


def dot(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a.ravel(), b.ravel()))


class Curvature:
    """The newest ``memory`` pairs (s, y) and their ρ = 1/(sᵀy), oldest first."""

    def __init__(self, memory: int) -> None:
        if memory < 1:
            raise ValueError(f"L-BFGS needs a memory of at least 1 pair, got {memory}")
        self.pairs: deque[tuple[np.ndarray, np.ndarray, float]] = deque(maxlen=memory)

    def __len__(self) -> int:
        return len(self.pairs)

    def push(self, s: np.ndarray, y: np.ndarray) -> bool:
        """Keep the pair when it has positive curvature (sᵀy > 10⁻¹⁰·yᵀy); the oldest pair
        goes when ``memory`` are kept. Returns whether it was kept."""
        sy, yy = dot(s, y), dot(y, y)
        if not sy > 1e-10 * yy:
            return False
        self.pairs.append((s, y, 1.0 / sy))
        return True

    def direction(self, g: np.ndarray) -> np.ndarray:
        """d = −H·g by the two-loop recursion (−g itself while no pair is known)."""
        q = np.array(g, dtype=np.float32)
        if not self.pairs:
            return -q
        alphas = []
        for s, y, rho in reversed(self.pairs):  # newest first
            a = rho * dot(s, q)
            q -= np.float32(a) * y
            alphas.append(a)
        s, y, _ = self.pairs[-1]
        q *= np.float32(dot(s, y) / dot(y, y))  # H₀ = γ·I
        for (s, y, rho), a in zip(self.pairs, reversed(alphas), strict=True):  # oldest first
            b = rho * dot(y, q)
            q += np.float32(a - b) * s
        return -q


@dataclass(frozen=True)
class Result:
    """Where :func:`minimize` stopped: the last iterate, why, and how many times it evaluated
    the loss."""

    x: np.ndarray
    message: str
    evaluations: int


def minimize(
    fun: Callable[[np.ndarray], tuple[float, np.ndarray]],
    x0: np.ndarray,
    iterations: int,
    callback: Callable[[np.ndarray], None],
    *,
    bounds: tuple[np.ndarray, np.ndarray] | None = None,
    memory: int = 30,
    first_step: float = 10.0,
) -> Result:
    """Make up to ``iterations`` steps on ``fun`` (loss and gradient at x, shaped like x0),
    from x0 (clipped into ``bounds``: (low, high), each broadcastable to x0). ``callback``
    receives each accepted iterate, after ``fun`` was last called on it. ``memory``: how many
    curvature pairs are kept. Stops early only when no step lowers the loss."""
    curvature = Curvature(memory)
    x = np.array(x0, dtype=np.float32)
    if bounds is not None:
        np.clip(x, *bounds, out=x)
    f, g = fun(x)
    evaluations = 1
    for _ in range(iterations):
        free = _free(x, g, bounds)
        d = curvature.direction(g if free is None else g * free)
        if free is not None:
            d *= free
        slope = dot(g, d)
        if not slope < 0:  # not a descent direction: start the memory again
            curvature = Curvature(memory)
            d = -g if free is None else -g * free
            slope = dot(g, d)
            if not slope < 0:
                return Result(x, "converged: the gradient is zero", evaluations)
        t = 1.0 if len(curvature) else first_step / float(np.abs(d).max())
        for _ in range(MAX_BACKTRACKS):
            x_new = x + np.float32(t) * d
            if bounds is not None:
                np.clip(x_new, *bounds, out=x_new)
            f_new, g_new = fun(x_new)
            evaluations += 1
            if f_new < f and f_new <= f + ARMIJO * dot(g, x_new - x):
                break
            t /= 2
        else:
            message = "stopped: no step along the direction lowers the loss"
            return Result(x, message, evaluations)
        curvature.push(x_new - x, g_new - g)
        x, f, g = x_new, f_new, g_new
        callback(x)
    message = f"made the {iterations} steps asked for ({evaluations} evaluations of the loss)"
    return Result(x, message, evaluations)


def _free(x: np.ndarray, g: np.ndarray, bounds) -> np.ndarray | None:
    """1 for the elements that may move, 0 for those at a bound that the gradient pushes
    outward (float32, shaped like x); None without bounds."""
    if bounds is None:
        return None
    low, high = bounds
    held = ((x <= low) & (g > 0)) | ((x >= high) & (g < 0))
    return (~held).astype(np.float32)
