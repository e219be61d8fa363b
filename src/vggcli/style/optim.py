"""Optimisers for the image, behind one small interface and a registry.

An optimiser is a class with a learning rate and two methods, in the CS231n style:

    init(x) -> state                       the state before the first step
    step(x, grad, state) -> (x, state)     one update; the inputs are not modified

``state`` maps names to numpy arrays, so the run's state file saves any optimiser's state
without knowing what it holds, and a run resumes bit for bit. A new optimiser is one class here
plus one line in :data:`OPTIMIZERS`; ``--optimizer`` offers it. What the rest of vggcli needs to
know of an optimiser it reads from its declared capabilities (:attr:`Optimizer.drives`,
:attr:`~Optimizer.takes_lr`, :attr:`~Optimizer.default_steps`, …), never from its type or name.

L-BFGS is the exception that proves the rule: its line search evaluates the loss several times
per iteration, so it cannot be a ``step``. It *drives* the optimisation itself
(:meth:`LBFGS.minimize`, :mod:`vggcli.style.lbfgs`); its state is its curvature memory, which
each stage starts empty. That memory is 2·30 images, so :meth:`Optimizer.kept` leaves it out of
checkpoints and of a finished run's state file: only an interrupted run saves it, to resume
exactly.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from vggcli.errors import UsageError
from vggcli.style import lbfgs

State = Mapping[str, np.ndarray]
"""An optimiser's state between steps: named arrays (saved as they are in the state file)."""


@dataclass(frozen=True)
class Optimizer(ABC):
    """Updates the image from its gradient; ``lr`` is the step size η."""

    name: ClassVar[str]
    description: ClassVar[str]
    drives: ClassVar[bool] = False  # runs the optimisation itself (minimize), not step by step
    takes_lr: ClassVar[bool] = True  # whether ``lr`` (--lr) is its step size
    evaluations_per_step: ClassVar[float] = 1.0  # loss evaluations a step makes, on average
    default_steps: ClassVar[tuple[int, int]] = (150, 50)  # (each coarser stage, the last stage)
    shallow_last_stage: ClassVar[bool] = False  # see vggcli.style.stages.SHALLOW_LAYER
    lr: float = 1.0

    def steps_for(self, final: tuple[int, int]) -> tuple[int, int]:
        """The default steps (each coarser stage, the last at most) for an output of ``final``
        (H, W)."""
        return self.default_steps

    def init(self, x: np.ndarray) -> State:
        """The state before the first step (none by default)."""
        return {}

    @abstractmethod
    def step(self, x: np.ndarray, grad: np.ndarray, state: State) -> tuple[np.ndarray, State]:
        """One update: returns (new x, new state)."""

    def kept(self, state: State, *, interrupted: bool) -> State:
        """What of ``state`` a state file keeps: a checkpoint's or a finished run's
        (``interrupted`` False), or an interrupted run's. All of it unless said otherwise."""
        return state

    @property
    def images_held(self) -> int:
        """How many image-sized arrays its state holds at most (for the memory estimate)."""
        return 2

    def check_state(self, state: State, shape: tuple[int, ...], refuse) -> None:
        """That ``state`` (read from a state file) is this optimiser's for images of ``shape``;
        raises ``refuse(field, why)`` otherwise. Every array finite numbers by default."""
        for key, value in state.items():
            if value.dtype.kind not in "fiu" or not np.isfinite(value).all():
                raise refuse(f"optimiser state {key}", "is not finite numbers")


@dataclass(frozen=True)
class Adam(Optimizer):
    """m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²;  m̂ = m/(1−β1ᵗ);  v̂ = v/(1−β2ᵗ);
    x ← x − η·m̂/(√v̂ + ε)   (lab manual eq. 3.17; Kingma & Ba 2015).
    State: m, v shaped like the image, t the step count (a 0-d array)."""

    name = "adam"
    description = "the manual's (eq. 3.17)"
    default_steps = (300, 100)
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8

    def init(self, x: np.ndarray) -> State:
        return {"m": np.zeros_like(x), "v": np.zeros_like(x), "t": np.array(0)}

    def check_state(self, state, shape, refuse) -> None:
        super().check_state(state, shape, refuse)
        if not state:
            return
        if set(state) != {"m", "v", "t"}:
            raise refuse("optimiser state", f"holds {sorted(state)}, not Adam's m, v, t")
        for key in ("m", "v"):
            if state[key].shape != shape:
                raise refuse(f"Adam's {key}", f"is {list(state[key].shape)}, not {list(shape)}")
        if state["t"].shape != () or not 0 <= state["t"] <= 10**9:
            raise refuse("Adam's t", f"is {state['t']!r}, not a step count")

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
    drives = True
    takes_lr = False
    evaluations_per_step = 1.1  # the line search evaluates a little more than once a step
    default_steps = (40, 30)  # from 1024 px: the panel at 1024 needs up to 23 at the last stage
    small_steps = (40, 80)  # below 512 px: the panel at 256 needs up to 75 at the last stage
    middle_steps = (40, 60)  # 512-1023 px: the panel at 512 needs up to 55 at the last stage
    shallow_last_stage = True
    memory: int = 30
    smoothing: float = 64.0  # measured: docs/style-transfer.md
    brightness: float = 3.0

    def step(self, x, grad, state):
        raise TypeError("L-BFGS drives the optimisation itself: use minimize()")

    def steps_for(self, final: tuple[int, int]) -> tuple[int, int]:
        side = max(final)
        if side < 512:
            return self.small_steps
        return self.middle_steps if side < 1024 else self.default_steps

    def kept(self, state: State, *, interrupted: bool) -> State:
        """The curvature memory only for an interrupted run (resumed, it goes on exactly);
        elsewhere none (it weighs 2·``memory`` images; a run continued from there rebuilds it)."""
        return state if interrupted else {}

    @property
    def images_held(self) -> int:
        """Two images per curvature pair, and as many again while an interrupted run saves them."""
        return 4 * self.memory

    def check_state(self, state, shape, refuse) -> None:
        super().check_state(state, shape, refuse)
        if not state:
            return
        if set(state) != {"s", "y"}:
            raise refuse("curvature memory", f"holds {sorted(state)}, not L-BFGS's s, y")
        s, y = state["s"], state["y"]
        if not s.shape == y.shape == (len(s), *shape) or len(s) > self.memory:
            expected = f"[≤{self.memory}, {', '.join(map(str, shape))}]"
            raise refuse(
                "curvature memory", f"is {list(s.shape)} and {list(y.shape)}, not {expected}"
            )

    def curvature(self, state: State, shape: tuple[int, ...]) -> lbfgs.Curvature:
        """The curvature memory that ``state`` holds (a :class:`Memory`, or its arrays read
        back from a state file) for images of ``shape``, preconditioned by this optimiser's
        low-pass; empty for ``{}``."""
        low_pass = lbfgs.LowPass(self.smoothing, self.brightness) if self.smoothing else None
        curvature = lbfgs.Curvature(self.memory, low_pass)
        if not state:
            return curvature
        if set(state) != {"s", "y"}:
            raise UsageError("the state file's curvature memory is damaged")
        s_all, y_all = state["s"], state["y"]
        if not s_all.shape == y_all.shape == (len(s_all), *shape):
            raise UsageError("the state file's curvature memory does not fit its image")
        for s, y in zip(s_all, y_all, strict=True):
            # fresh arrays, as minimize makes them: the same sums to the last bit
            if not curvature.push(np.array(s, np.float32), np.array(y, np.float32)):
                raise UsageError("the state file's curvature memory is damaged")
        return curvature

    def minimize(
        self,
        fun: Callable[[np.ndarray], tuple[float, np.ndarray]],
        x0: np.ndarray,
        iterations: int,
        callback: Callable[[np.ndarray, State], None],
        bounds: tuple[np.ndarray, np.ndarray] | None = None,
        state: State | None = None,
        stop: Callable[[], str | None] | None = None,
    ) -> lbfgs.Result:
        """``iterations`` steps on ``fun`` (loss and gradient at an image shaped like x0) in one
        continuous run, from the curvature memory in ``state`` (None or {}: an empty one; the
        memory of x0's step when the run was interrupted there). ``callback(x, state)``
        receives each new iterate and the state (:class:`Memory`) to go on from it.
        ``bounds``: (low, high), box constraints broadcastable to the image; ``stop()``: a
        reason to stop after a step, or None."""
        curvature = self.curvature(state or {}, x0.shape)
        return lbfgs.minimize(
            fun,
            x0,
            iterations,
            lambda x: callback(x, Memory(tuple(curvature.pairs))),
            bounds=bounds,
            curvature=curvature,
            stop=stop,
        )


class Memory(Mapping[str, np.ndarray]):
    """L-BFGS's state: the curvature pairs of an iterate, oldest first, as ``s`` and ``y``
    [m, 1, 3, H, W] (float32), stacked only when read (when a state file is written)."""

    def __init__(self, pairs: tuple[tuple[np.ndarray, np.ndarray, float], ...]) -> None:
        self.pairs = pairs

    def __getitem__(self, key: str) -> np.ndarray:
        if key not in ("s", "y") or not self.pairs:
            raise KeyError(key)
        index = ("s", "y").index(key)
        return np.stack([pair[index] for pair in self.pairs])

    def __iter__(self) -> Iterator[str]:
        return iter(("s", "y") if self.pairs else ())

    def __len__(self) -> int:
        return 2 if self.pairs else 0


OPTIMIZERS: dict[str, type[Optimizer]] = {cls.name: cls for cls in (Adam, LBFGS)}


def make_optimizer(name: str, lr: float) -> Optimizer:
    """The optimiser ``--optimizer name`` with step size ``lr``; UsageError naming the others."""
    try:
        return OPTIMIZERS[name](lr=lr)
    except KeyError:
        raise UsageError(f"unknown optimizer {name!r}; choose {', '.join(OPTIMIZERS)}") from None
