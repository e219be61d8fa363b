"""L-BFGS on the image, with box constraints by projection.

The quasi-Newton method of Nocedal & Wright, *Numerical Optimization* (2nd ed.), §7.2: the
direction d = −H·∇f, with H the inverse-Hessian estimate built from the last ``memory`` pairs

    s = x_{k+1} − x_k,   y = ∇f(x_{k+1}) − ∇f(x_k)

by the two-loop recursion (Algorithm 7.4) from H₀ = γ·I, γ = sᵀy / yᵀy of the newest pair
(eq. 7.20). A pair is kept only when sᵀy > 0 (the curvature condition), so H stays positive
definite.

Preconditioning (:class:`LowPass`): H₀ = γ·P with P a fixed symmetric positive definite operator and
γ = sᵀy / yᵀPy (N&W §7.2 with the scaling taken in P's metric); with no pair yet, d = −P·∇f. The
gradient of a VGG loss with respect to the pixels is dominated by high spatial frequencies, along
which the loss is also most curved, while the large-scale changes that lower a style loss most are
weak in it; P damps each spatial frequency f by (1 + (2πL·|f|)²)^(−1/2), about 1/|f| like the
Fourier parametrisation of feature visualisation (Olah et al., Distill 2017), so that the first
steps already move whole regions, and it weights changes of brightness (common to the three
channels) more than changes of colour, as that parametrisation decorrelates colours. Measured on a
512-px style transfer from the content image (length 64, brightness 1): the loss of 1000 manual Adam
steps at step 71 instead of 127; with brightness 3 and a first step of 40 levels, the defaults' two
stages reach 1.78e9 after 40 + 50 steps, with brightness 1 and a first step of 10 1.84e9 after 40 +
53 (docs/style-transfer.md).

Box constraints (the pixel range): an element at a bound whose gradient pushes it outward is held
still for the step (it is left out of the gradient the direction is made from, and out of the
direction), and the step follows the projected path
x(t) = clip(x + t·d). The step length t backtracks from 1 (halving, Algorithm 3.1) until the loss
falls by at least 10⁻⁴ of what the gradient promises along the path (the Armijo condition); the
first step, with no curvature known yet, moves the element that moves most by ``first_step``.
Should the direction not descend (held elements and P together can do that), the memory is
emptied and the step follows −∇f. Every step lowers the loss.

Why not scipy's L-BFGS-B, which vggcli used before: it adds about 0.09 s of bookkeeping per
iteration at 512 px (float64 copies of the image, the compact form of the bounds), a tenth of
a step's time, and more with a longer memory (30 pairs instead of 10 took fewer steps but no
less time); and its own BLAS threads competed with numpy's. Figures: docs/style-transfer.md
and ``benchmarks/stylize.py --lbfgs-only``.

Arrays are float32 and keep the image's shape ([1, 3, H, W]); scalars are Python floats.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.fft

ARMIJO = 1e-4  # the fraction of the promised decrease a step must achieve
MAX_BACKTRACKS = 30  # halvings of the step before the line search gives up (t = 2⁻³⁰)


Preconditioner = Callable[[np.ndarray], np.ndarray]
"""v ↦ P·v for a symmetric positive definite P, on arrays shaped like the image."""


def dot(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a.ravel(), b.ravel()))


class LowPass:
    """P·v for v [1, 3, H, W]: every channel filtered in the 2-D discrete Fourier domain
    (periodic) by p(f) = (1 + (2π·``length``·|f|)²)^(−1/2), |f| in cycles per pixel (1 for the
    mean, about 1/(2π·length·|f|) for detail finer than ``length`` pixels), then the change
    common to the three channels (their mean: brightness) weighted ``brightness`` times the
    rest (colour): P = (I + (brightness − 1)·J) ⊗ F⁻¹ diag(p) F, J the 3x3 averaging matrix.
    p is real, even and positive and I + (b − 1)·J has eigenvalues 1, 1 and b > 0, so P is
    symmetric positive definite. float32 in, float32 out."""

    def __init__(self, length: float, brightness: float = 1.0) -> None:
        if not (length > 0 and brightness > 0):
            raise ValueError(f"length and brightness must be positive, got {length}, {brightness}")
        self.length = length
        self.brightness = brightness
        self._gains: dict[tuple[int, int], np.ndarray] = {}

    def gain(self, h: int, w: int) -> np.ndarray:
        """p on the [H, W // 2 + 1] grid of a real 2-D DFT."""
        if (h, w) not in self._gains:
            fy = np.fft.fftfreq(h)[:, None]
            fx = np.fft.rfftfreq(w)[None, :]
            radius = 2 * np.pi * self.length * np.hypot(fy, fx)
            self._gains[(h, w)] = (1 / np.sqrt(1 + radius**2)).astype(np.float32)
        return self._gains[(h, w)]

    def __call__(self, v: np.ndarray) -> np.ndarray:
        h, w = v.shape[-2:]
        spectrum = scipy.fft.rfft2(v, workers=-1) * self.gain(h, w)
        out = scipy.fft.irfft2(spectrum, s=(h, w), workers=-1).astype(np.float32, copy=False)
        if self.brightness != 1.0:
            out += np.float32(self.brightness - 1) * out.mean(axis=-3, keepdims=True)
        return out


class Curvature:
    """The newest ``memory`` pairs (s, y) and their ρ = 1/(sᵀy), oldest first; ``precondition``:
    P of H₀ = γ·P (None: the identity)."""

    def __init__(self, memory: int, precondition: Preconditioner | None = None) -> None:
        if memory < 1:
            raise ValueError(f"L-BFGS needs a memory of at least 1 pair, got {memory}")
        self.pairs: deque[tuple[np.ndarray, np.ndarray, float]] = deque(maxlen=memory)
        self.precondition = precondition

    def __len__(self) -> int:
        return len(self.pairs)

    def clear(self) -> None:
        self.pairs.clear()

    def push(self, s: np.ndarray, y: np.ndarray) -> bool:
        """Keep the pair when it has positive curvature (sᵀy > 10⁻¹⁰·yᵀy); the oldest pair
        goes when ``memory`` are kept. Returns whether it was kept."""
        sy, yy = dot(s, y), dot(y, y)
        if not sy > 1e-10 * yy:
            return False
        self.pairs.append((s, y, 1.0 / sy))
        return True

    def direction(self, g: np.ndarray) -> np.ndarray:
        """d = −H·g by the two-loop recursion (−P·g while no pair is known)."""
        q = np.array(g, dtype=np.float32)
        if not self.pairs:
            return -self._p(q)
        alphas = []
        for s, y, rho in reversed(self.pairs):  # newest first
            a = rho * dot(s, q)
            q -= np.float32(a) * y
            alphas.append(a)
        s, y, _ = self.pairs[-1]
        q = self._p(q) * np.float32(dot(s, y) / dot(y, self._p(y)))  # H₀ = γ·P
        for (s, y, rho), a in zip(self.pairs, reversed(alphas), strict=True):  # oldest first
            b = rho * dot(y, q)
            q += np.float32(a - b) * s
        return -q

    def _p(self, v: np.ndarray) -> np.ndarray:
        return v if self.precondition is None else self.precondition(v)


@dataclass(frozen=True)
class Result:
    """Where :func:`minimize` stopped: the last iterate, why, and how many times it evaluated
    the loss."""

    x: np.ndarray
    message: str
    evaluations: int
    exhausted: bool = False  # it made every step it was given


def minimize(
    fun: Callable[[np.ndarray], tuple[float, np.ndarray]],
    x0: np.ndarray,
    iterations: int,
    callback: Callable[[np.ndarray], None],
    *,
    bounds: tuple[np.ndarray, np.ndarray] | None = None,
    memory: int = 30,
    first_step: float = 40.0,
    precondition: Preconditioner | None = None,
    curvature: Curvature | None = None,
    stop: Callable[[], str | None] | None = None,
) -> Result:
    """Make up to ``iterations`` steps on ``fun`` (loss and gradient at x, shaped like x0),
    from x0 (clipped into ``bounds``: (low, high), each broadcastable to x0). ``callback``
    receives each accepted iterate, after ``fun`` was last called on it. ``memory``: how many
    curvature pairs are kept; ``precondition``: P of H₀ = γ·P (None: the identity). Stops early
    when no step lowers the loss, or when ``stop()``, asked after each ``callback``, gives a
    reason. ``curvature``: the memory to use instead (``memory``
    and ``precondition`` are then its own), updated in place: at each ``callback`` it is the
    memory of that iterate, and a run stopped there goes on as one from that iterate and a
    copy of it, bit for bit."""
    if curvature is None:
        curvature = Curvature(memory, precondition)
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
        if not slope < 0:  # not a descent direction: empty the memory, follow −∇f this step
            curvature.clear()
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
        reason = stop() if stop else None
        if reason:
            return Result(x, f"{reason} ({evaluations} evaluations of the loss)", evaluations)
    message = f"made the {iterations} steps asked for ({evaluations} evaluations of the loss)"
    return Result(x, message, evaluations, exhausted=True)


def _free(x: np.ndarray, g: np.ndarray, bounds) -> np.ndarray | None:
    """1 for the elements that may move, 0 for those at a bound that the gradient pushes
    outward (float32, shaped like x); None without bounds."""
    if bounds is None:
        return None
    low, high = bounds
    held = ((x <= low) & (g > 0)) | ((x >= high) & (g < 0))
    return (~held).astype(np.float32)
