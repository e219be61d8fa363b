"""The run loop of style transfer: an optimiser on an :class:`~.objective.Objective`, resumable.

It yields nothing and prints nothing: it calls ``on_step(step, losses, image)`` for every step
(step 0 = the initial image) and keeps a :class:`RunState` that can be saved at any moment
(Ctrl-C) and resumed: with Adam, 500 + 500 steps give the same image as 1000 steps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from vggcli.style.objective import Losses, Objective
from vggcli.style.optim import LBFGS, State, make_optimizer

HISTORY_COLUMNS = ("step", "content", "style", "tv", "total")


@dataclass(frozen=True)
class RunState:
    """What a run needs to continue: the image after ``step`` updates, the loss history rows
    recorded so far (step, content, style, tv, total) and the optimiser's state."""

    image: np.ndarray
    step: int
    history: tuple[tuple[float, ...], ...] = ()
    optimizer_state: State = field(default_factory=dict)


OnStep = Callable[[int, Losses, np.ndarray], None]


class StyleTransfer:
    """Runs the optimiser on an :class:`Objective`, keeping a resumable :class:`RunState`."""

    def __init__(self, objective: Objective, state: RunState) -> None:
        self.objective = objective
        self.options = objective.options
        self.optimizer = make_optimizer(self.options.optimizer, self.options.lr)
        if not state.optimizer_state:
            state = RunState(
                state.image, state.step, state.history, self.optimizer.init(state.image)
            )
        self.state = state
        self.stop_reason: str | None = None  # why a driving optimiser (L-BFGS) stopped

    def _record(self, step: int, losses: Losses, image: np.ndarray, on_step: OnStep | None):
        history = self.state.history
        if history and history[-1][0] >= step:
            return
        row = (float(step), losses.content, losses.style, losses.tv, losses.total)
        s = self.state
        self.state = RunState(s.image, s.step, (*history, row), s.optimizer_state)
        if on_step:
            on_step(step, losses, image)

    def run(self, until: int, on_step: OnStep | None = None) -> RunState:
        """Optimise until ``until`` updates have been made in total; returns the final state.

        A KeyboardInterrupt leaves ``self.state`` consistent (the last completed step).
        """
        if isinstance(self.optimizer, LBFGS):
            self._run_lbfgs(self.optimizer, until, on_step)
        else:
            self._run_steps(until, on_step)
        final, _ = self.objective.evaluate(self.state.image, gradient=False)
        self._record(self.state.step, final, self.state.image, on_step)
        return self.state

    def _run_steps(self, until: int, on_step: OnStep | None) -> None:
        """A stepping optimiser: evaluate, record, update, until ``until`` updates."""
        while self.state.step < until:
            s = self.state
            losses, grad = self.objective.evaluate(s.image)
            self._record(s.step, losses, s.image, on_step)
            s = self.state
            image, opt_state = self.optimizer.step(s.image, grad, s.optimizer_state)
            self.state = RunState(image, s.step + 1, s.history, opt_state)  # one assignment

    def _run_lbfgs(self, lbfgs: LBFGS, until: int, on_step: OnStep | None) -> None:
        if self.state.step >= until:
            return
        shape = self.state.image.shape
        last: dict[str, object] = {}

        def fun(flat: np.ndarray):
            x = flat.reshape(shape).astype(np.float32)
            losses, grad = self.objective.evaluate(x)
            last.update(flat=flat.copy(), losses=losses)
            if not self.state.history or self.state.history[-1][0] < self.state.step:
                self._record(self.state.step, losses, x, on_step)
            return losses.total, grad.astype(np.float64).ravel()

        def callback(flat: np.ndarray) -> None:
            x = flat.reshape(shape).astype(np.float32)
            if "flat" in last and np.array_equal(last["flat"], flat):
                losses = last["losses"]
            else:
                losses, _ = self.objective.evaluate(x, gradient=False)
            self.state = RunState(x, self.state.step + 1, self.state.history)
            self._record(self.state.step, losses, x, on_step)

        result = lbfgs.minimize(fun, self.state.image, until - self.state.step, callback)
        self.stop_reason = str(result.message)
