"""The run loop of style transfer: an optimiser on an :class:`~.objective.Objective`, resumable.

It yields nothing and prints nothing: it calls ``on_step(step, losses, image)`` for every step
(step 0 = the initial image) and keeps a :class:`RunState` that can be saved at any moment
(Ctrl-C) and resumed: 500 + 500 steps give the same image as 1000 steps (with L-BFGS, from a
state that keeps its curvature memory: an interrupted run's).

With ``bounds`` (the pixel range 0–255 in network-input units) the image stays a picture while
it is optimised: L-BFGS takes them as box constraints, a stepping optimiser's update is
projected onto them. Without, the manual's unbounded update.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from vggcli.errors import Diverged
from vggcli.style.objective import Losses, Objective
from vggcli.style.optim import Optimizer, State, make_optimizer
from vggcli.style.stages import StopRule

HISTORY_COLUMNS = ("step", "content", "style", "tv", "total", "size")
Bounds = tuple[np.ndarray, np.ndarray]
"""(low, high), each broadcastable to the image [1, 3, H, W]."""


@dataclass(frozen=True)
class RunState:
    """What a run needs to continue: the image after ``step`` updates (at the size of stage
    ``stage`` of a coarse-to-fine run), the loss history rows recorded so far (step, content,
    style, tv, total, height, width) and the optimiser's state."""

    image: np.ndarray
    step: int
    history: tuple[tuple[float, ...], ...] = ()
    optimizer_state: State = field(default_factory=dict)
    stage: int = 0

    def replace(self, **changes) -> RunState:
        return dataclasses.replace(self, **changes)


OnStep = Callable[[int, Losses, np.ndarray], None]


class StyleTransfer:
    """Runs the optimiser on an :class:`Objective`, keeping a resumable :class:`RunState`."""

    def __init__(self, objective: Objective, state: RunState, bounds: Bounds | None = None) -> None:
        self.objective = objective
        self.options = objective.options
        self.bounds = bounds
        self.optimizer = make_optimizer(self.options.optimizer, self.options.lr)
        if not state.optimizer_state:
            state = state.replace(optimizer_state=self.optimizer.init(state.image))
        self.state = state
        self.stop_reason: str | None = None  # why it stopped early, or why L-BFGS stopped

    def _diverged(self, losses: Losses) -> Diverged:
        """The error of a loss (or its gradient) that is not a finite number at the current
        state (``self.state`` is the last state whose loss was finite, or the initial one)."""
        if math.isfinite(losses.total):
            what = f"the gradient overflows (loss {losses.total:.3g})"
        else:
            what = f"the loss is {losses.total:g}"
        if not self.state.history:
            return Diverged(
                f"{what} from the start: --alpha, --beta or --tv-weight too large, or weights "
                "that are not finite numbers"
            )
        hint = " (try a smaller --lr)" if self.optimizer.takes_lr else ""
        return Diverged(
            f"the optimisation diverged after step {self.state.step}: {what}{hint}; the image "
            f"and state of step {self.state.step} are kept"
        )

    def _record(self, step: int, losses: Losses, image: np.ndarray, on_step: OnStep | None):
        history = self.state.history
        h, w = image.shape[2:]
        if history and (history[-1][0], history[-1][5:]) >= (step, (h, w)):
            return  # recorded already (a size is recorded after the smaller ones at a step)
        row = (float(step), losses.content, losses.style, losses.tv, losses.total, h, w)
        self.state = self.state.replace(history=(*history, row))
        if on_step:
            on_step(step, losses, image)

    def run(
        self, until: int, on_step: OnStep | None = None, stop: StopRule | None = None
    ) -> RunState:
        """Optimise until ``until`` updates have been made in total, or until ``stop`` finds
        the losses at this size done (:attr:`stop_reason` says which); the final state.

        A KeyboardInterrupt leaves ``self.state`` consistent (the last completed step); so does
        :class:`~vggcli.errors.Diverged`, raised when the loss stops being a finite number
        (``self.state`` is then the last step whose loss was finite).
        """
        self._finite_state: RunState | None = None  # the last state whose loss was finite
        self._stop = stop
        with np.errstate(over="ignore", invalid="ignore"):  # overflows end in Diverged
            if self.optimizer.drives:
                self._run_driven(self.optimizer, until, on_step)
            else:
                self._run_steps(until, on_step)
            if not self._recorded(
                self.state.step, self.state.image
            ):  # a driving optimiser has recorded it
                final, _ = self.objective.evaluate(self.state.image, gradient=False)
                self._check(final)
                self._record(self.state.step, final, self.state.image, on_step)
        if self._stop is not None and self.stop_reason is None:  # the stop rule's cap
            self.stop_reason = self._stop.capped(self._totals_here())
        return self.state

    def _totals_here(self) -> list[float]:
        """The total losses recorded at the current image's size (this stage's), in order."""
        size = self.state.image.shape[2:]
        return [r[4] for r in self.state.history if tuple(r[5:7]) == size]

    def _done(self) -> str | None:
        """The stop rule's reason to end here, from the losses recorded at this size."""
        return None if self._stop is None else self._stop.reason(self._totals_here())

    def _recorded(self, step: int, image: np.ndarray) -> bool:
        """Whether the history's last row is the loss of ``image`` at ``step``."""
        history = self.state.history
        return bool(history) and history[-1][0] == step and history[-1][5:] == image.shape[2:]

    def _check(self, losses: Losses, grad: np.ndarray | None = None) -> None:
        """Go back to the last finite state and raise Diverged unless the loss (and ``grad``)
        are finite numbers."""
        if math.isfinite(losses.total) and (grad is None or np.isfinite(grad).all()):
            return
        if self._finite_state is not None:
            self.state = self._finite_state
        raise self._diverged(losses)

    def _run_steps(self, until: int, on_step: OnStep | None) -> None:
        """A stepping optimiser: evaluate, record, update, until ``until`` updates."""
        first = self.state.step
        while self.state.step < until:
            s = self.state
            losses, grad = self.objective.evaluate(s.image)
            self._check(losses, grad)
            self._record(s.step, losses, s.image, on_step)
            self.stop_reason = self._done()
            if self.stop_reason:
                return
            s = self._finite_state = self.state
            image, opt_state = self.optimizer.step(s.image, grad, s.optimizer_state)
            if self.bounds is not None:
                image = np.clip(image, *self.bounds, out=image)
            self.state = s.replace(image=image, step=s.step + 1, optimizer_state=opt_state)
        # with a stop rule these steps were its cap: run() says so, once the last is recorded
        self.stop_reason = None if self._stop else f"made the {until - first} steps asked for"

    def _run_driven(self, optimizer: Optimizer, until: int, on_step: OnStep | None) -> None:
        """An optimiser that drives the run itself (``minimize``, as L-BFGS's line search)."""
        if self.state.step >= until:
            return
        last: dict[str, object] = {}

        def fun(x: np.ndarray):
            losses, grad = self.objective.evaluate(x)
            self._check(losses, grad)  # the state is the last accepted iterate: finite
            last.update(x=x, losses=losses)
            self._record(self.state.step, losses, x, on_step)
            # an objective through a layer (Objective.through): minimise what its gradient is of
            return (losses.total if losses.optimised is None else losses.optimised), grad

        def callback(x: np.ndarray, memory: State) -> None:
            # minimize evaluates every iterate before it accepts it: the last evaluation's
            losses = last["losses"] if last.get("x") is x else self.objective.evaluate(x, False)[0]
            self._check(losses)
            step = self.state.step + 1
            self.state = self.state.replace(image=x, step=step, optimizer_state=memory)
            self._record(self.state.step, losses, x, on_step)

        s = self.state
        result = optimizer.minimize(
            fun, s.image, until - s.step, callback, bounds=self.bounds,
            state=s.optimizer_state, stop=self._done,
        )  # fmt: skip
        self.stop_reason = result.message
        if result.exhausted and self._stop is not None:
            capped = self._stop.capped(self._totals_here())
            self.stop_reason = f"{capped} ({result.evaluations} evaluations of the loss)"
