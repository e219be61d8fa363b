"""Optimisers for the image: the manual's Adam (eq. 3.17) and L-BFGS through scipy.

Adam is written functionally: ``step`` returns a new image and a new :class:`AdamState`, so a
run can be checkpointed between any two steps and resumed bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import scipy.optimize


@dataclass(frozen=True)
class AdamState:
    """First and second moment estimates m, v (shaped like the image) and the step count t."""

    m: np.ndarray
    v: np.ndarray
    t: int


@dataclass(frozen=True)
class Adam:
    """m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²;  m̂ = m/(1−β1ᵗ);  v̂ = v/(1−β2ᵗ);
    x ← x − η·m̂/(√v̂ + ε)   (lab manual eq. 3.17; Kingma & Ba 2015)."""

    lr: float = 1.0
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8

    def init(self, x: np.ndarray) -> AdamState:
        return AdamState(np.zeros_like(x), np.zeros_like(x), 0)

    def step(self, x: np.ndarray, grad: np.ndarray, state: AdamState):
        """One update: returns (new x, new state); the inputs are not modified."""
        t = state.t + 1
        m = self.beta1 * state.m + (1 - self.beta1) * grad
        v = self.beta2 * state.v + (1 - self.beta2) * grad * grad
        m_hat = m / (1 - self.beta1**t)
        v_hat = v / (1 - self.beta2**t)
        x = x - self.lr * m_hat / (np.sqrt(v_hat) + self.eps)
        return x.astype(state.m.dtype, copy=False), AdamState(m, v, t)


def lbfgs(
    fun: Callable[[np.ndarray], tuple[float, np.ndarray]],
    x0: np.ndarray,
    iterations: int,
    callback: Callable[[np.ndarray], None],
    memory: int = 10,
) -> scipy.optimize.OptimizeResult:
    """Minimise ``fun`` (value and gradient of a flat float64 vector) with scipy's L-BFGS-B.

    One continuous run of ``iterations`` iterations: the curvature memory (``memory`` pairs)
    is kept across iterations, never restarted. ``callback`` receives each new iterate. The
    tolerances are zero so that it stops early only when the line search cannot progress.
    """
    import scipy.optimize  # here, not at the top: it adds 0.2 s to every command's start-up

    return scipy.optimize.minimize(
        fun,
        np.asarray(x0, dtype=np.float64).ravel(),
        jac=True,
        method="L-BFGS-B",
        callback=callback,
        options={
            "maxiter": iterations,
            "maxfun": 50 * iterations + 20,
            "maxcor": memory,
            "ftol": 0.0,
            "gtol": 0.0,
        },
    )
