"""Optimisers for the image, behind one small interface and a registry.

An optimiser is a class with a learning rate and two methods, in the CS231n style:

    init(x) -> state                       the state before the first step
    step(x, grad, state) -> (x, state)     one update; the inputs are not modified

``state`` is a plain dict of numpy arrays, so the run's state file saves any optimiser's state
without knowing what it holds, and a run resumes bit for bit. A new optimiser is one class here
plus one line in :data:`OPTIMIZERS`; ``--optimizer`` offers it.

L-BFGS is the exception that proves the rule: its line search evaluates the loss several times
per iteration, so it cannot be a ``step``. It *drives* the optimisation itself
(:meth:`LBFGS.minimize`, :mod:`vggcli.style.lbfgs`) and keeps no state between runs: each stage
and a resumed run start with an empty curvature memory.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from vggcli.errors import UsageError
from vggcli.style import lbfgs

State = dict[str, np.ndarray]
"""An optimiser's state between steps: named arrays (saved as they are in the state file)."""


@dataclass(frozen=True)
class Optimizer(ABC):
    """Updates the image from its gradient; ``lr`` is the step size η."""

    name: ClassVar[str]
    description: ClassVar[str]
    lr: float = 1.0

    def init(self, x: np.ndarray) -> State:
        """The state before the first step (none by default)."""
        return {}

    @abstractmethod
    def step(self, x: np.ndarray, grad: np.ndarray, state: State) -> tuple[np.ndarray, State]:
        """One update: returns (new x, new state)."""


@dataclass(frozen=True)
class Adam(Optimizer):
    """m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²;  m̂ = m/(1−β1ᵗ);  v̂ = v/(1−β2ᵗ);
    x ← x − η·m̂/(√v̂ + ε)   (lab manual eq. 3.17; Kingma & Ba 2015).
    State: m, v shaped like the image, t the step count (a 0-d array)."""

    name = "adam"
    description = "the manual's (eq. 3.17)"
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8

    def init(self, x: np.ndarray) -> State:
        return {"m": np.zeros_like(x), "v": np.zeros_like(x), "t": np.array(0)}

    def step(self, x, grad, state):
        t = int(state["t"]) + 1
        m = self.beta1 * state["m"] + (1 - self.beta1) * grad
        v = self.beta2 * state["v"] + (1 - self.beta2) * grad * grad
        m_hat = m / (1 - self.beta1**t)
        v_hat = v / (1 - self.beta2**t)
        x = x - self.lr * m_hat / (np.sqrt(v_hat) + self.eps)
        return x.astype(state["m"].dtype, copy=False), {"m": m, "v": v, "t": np.array(t)}


@dataclass(frozen=True)
class LBFGS(Optimizer):
    """L-BFGS with the pixel bounds and a backtracking line search (:mod:`vggcli.style.lbfgs`);
    ``memory`` curvature pairs, H₀ preconditioned by :class:`~vggcli.style.lbfgs.LowPass` of
    ``smoothing`` pixels and ``brightness`` (smoothing 0: H₀ = γ·I); ``lr`` is not used."""

    name = "lbfgs"
    description = "L-BFGS with the pixel bounds, 30 curvature pairs, low-pass preconditioned"
    memory: int = 30
    smoothing: float = 64.0  # measured: README, "Style transfer"
    brightness: float = 3.0

    def step(self, x, grad, state):
        raise TypeError("L-BFGS drives the optimisation itself: use minimize()")

    def minimize(
        self,
        fun: Callable[[np.ndarray], tuple[float, np.ndarray]],
        x0: np.ndarray,
        iterations: int,
        callback: Callable[[np.ndarray], None],
        bounds: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> lbfgs.Result:
        """``iterations`` steps on ``fun`` (loss and gradient at an image shaped like x0) in one
        continuous run: the curvature memory (``memory`` pairs) is kept across steps, never
        restarted. ``callback`` receives each new iterate. ``bounds``: (low, high), box
        constraints broadcastable to the image."""
        low_pass = lbfgs.LowPass(self.smoothing, self.brightness) if self.smoothing else None
        return lbfgs.minimize(
            fun, x0, iterations, callback, bounds=bounds, memory=self.memory, precondition=low_pass
        )


OPTIMIZERS: dict[str, type[Optimizer]] = {cls.name: cls for cls in (Adam, LBFGS)}


def make_optimizer(name: str, lr: float) -> Optimizer:
    """The optimiser ``--optimizer name`` with step size ``lr``; UsageError naming the others."""
    try:
        return OPTIMIZERS[name](lr=lr)
    except KeyError:
        raise UsageError(f"unknown optimizer {name!r}; choose {', '.join(OPTIMIZERS)}") from None
