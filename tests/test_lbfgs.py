"""vggcli's L-BFGS (style/lbfgs.py) against the textbook formula and against scipy's L-BFGS-B,
with and without its low-pass preconditioner."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.optimize

from vggcli.errors import UsageError
from vggcli.style.lbfgs import Curvature, LowPass, minimize
from vggcli.style.optim import LBFGS


def _quadratic(n: int, seed: int, condition: float = 100.0):
    """f(x) = ½xᵀAx − bᵀx with A symmetric positive definite of the given condition number."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    a = (q * np.geomspace(1.0, condition, n)) @ q.T
    b = rng.normal(size=n) * 3

    def fun(x):
        x64 = x.astype(np.float64)
        return float(0.5 * x64 @ a @ x64 - b @ x64), (a @ x64 - b).astype(np.float32)

    return a, b, fun


IMAGE = (1, 3, 2, 4)  # a small [1, 3, H, W] image: 24 numbers


def as_matrix(operator, shape) -> np.ndarray:
    """The matrix of a linear operator on arrays of ``shape``, column j = operator(e_j)."""
    n = int(np.prod(shape))
    eye = np.eye(n, dtype=np.float32)
    return np.stack([operator(eye[j].reshape(shape)).ravel() for j in range(n)], axis=1)


@pytest.mark.parametrize("smoothing", [None, 2.0])
def test_the_two_loop_direction_is_the_bfgs_inverse_hessian_times_the_gradient(smoothing):
    """Nocedal & Wright eq. 6.17 applied pair by pair from H₀ = γP (eq. 7.20; P = I, or the
    low-pass P as a dense matrix and γ = sᵀy / yᵀPy), written out as matrices, against the
    two-loop recursion."""
    n = int(np.prod(IMAGE))
    a, _, _ = _quadratic(n, seed=1)
    precondition = LowPass(smoothing, brightness=3.0) if smoothing else None
    p = np.eye(n) if precondition is None else as_matrix(precondition, IMAGE).astype(np.float64)
    rng = np.random.default_rng(2)
    curvature = Curvature(memory=4, precondition=precondition)
    pairs = []
    for _ in range(6):  # more than the memory: only the newest 4 count
        s = rng.normal(size=n)
        y = a @ s
        curvature.push(s.reshape(IMAGE).astype(np.float32), y.reshape(IMAGE).astype(np.float32))
        pairs = [*pairs, (s, y)][-4:]
    s, y = pairs[-1]
    h = p * (s @ y) / (y @ p @ y)
    for s, y in pairs:
        rho = 1 / (s @ y)
        v = np.eye(n) - rho * np.outer(y, s)
        h = v.T @ h @ v + rho * np.outer(s, s)
    g = rng.normal(size=n)
    expected = -h @ g
    got = curvature.direction(g.reshape(IMAGE).astype(np.float32)).ravel()
    assert len(curvature) == 4
    np.testing.assert_allclose(got, expected, rtol=2e-4, atol=2e-4 * np.abs(expected).max())
    if precondition is not None:  # with no pair yet: −P·g
        first = Curvature(memory=4, precondition=precondition).direction(g.reshape(IMAGE))
        np.testing.assert_allclose(first.ravel(), -p @ g, rtol=1e-5, atol=1e-6)


def test_the_low_pass_preconditioner_is_symmetric_positive_definite_with_the_stated_gains():
    """P as a dense matrix is symmetric with positive eigenvalues. A pattern of one spatial
    frequency is scaled by (1 + (2πL·|f|)²)^(−1/2) (the checkerboard: |f| = √½ cycles per
    pixel; stripes of period 4 pixels: |f| = ¼; a constant: 1), times ``brightness`` when all
    three channels carry it alike, times 1 when the channels cancel out (a change of colour)."""
    length, brightness = 3.0, 2.5
    lowpass = LowPass(length, brightness)
    p = as_matrix(lowpass, (1, 3, 6, 8)).astype(np.float64)
    np.testing.assert_allclose(p, p.T, atol=1e-6)
    assert np.linalg.eigvalsh((p + p.T) / 2).min() > 0
    i, j = np.mgrid[0:6, 0:8]
    checkerboard, stripes = np.where((i + j) % 2, -1.0, 1.0), np.cos(np.pi * j / 2)
    for pattern, f in ((checkerboard, np.sqrt(0.5)), (stripes, 0.25), (np.full((6, 8), 7.0), 0)):
        gain = 1 / np.sqrt(1 + (2 * np.pi * length * f) ** 2)
        for channels, weight in (((1, 1, 1), brightness), ((1, -2, 1), 1.0)):
            image = np.stack([c * pattern for c in channels])[None].astype(np.float32)
            got = lowpass(image)
            assert got.dtype == np.float32
            np.testing.assert_allclose(got, weight * gain * image, atol=1e-5)


def test_a_pair_without_positive_curvature_is_not_kept():
    curvature = Curvature(memory=3)
    assert not curvature.push(np.ones(4, np.float32), -np.ones(4, np.float32))
    assert curvature.push(np.ones(4, np.float32), np.ones(4, np.float32))
    assert len(curvature) == 1
    np.testing.assert_array_equal(Curvature(2).direction(np.ones(3, np.float32)), -np.ones(3))


@pytest.mark.parametrize("smoothing", [None, 2.0])
@pytest.mark.parametrize("bounded", [False, True])
def test_it_finds_scipys_l_bfgs_b_minimum(bounded, smoothing):
    """A convex quadratic on a [1, 2, 4, 5] image, with and without a box that cuts the
    unconstrained minimum off (the box is active at the solution), with and without the
    preconditioner: the same minimiser as scipy's L-BFGS-B, every step lower than the one
    before and inside the box."""
    shape = (1, 2, 4, 5)
    n = int(np.prod(shape))
    a, b, fun = _quadratic(n, seed=3)
    low, high = np.full(n, -0.5, np.float32), np.full(n, 0.5, np.float32)
    bounds = (low, high) if bounded else None
    reference = scipy.optimize.minimize(
        lambda x: (0.5 * x @ a @ x - b @ x, a @ x - b),
        np.zeros(n),
        jac=True,
        method="L-BFGS-B",
        bounds=scipy.optimize.Bounds(low, high) if bounded else None,
        options={"maxiter": 1000, "ftol": 1e-15, "gtol": 1e-12},
    )
    if bounded:
        assert np.sum(np.isclose(np.abs(reference.x), 0.5)) >= 3  # the box matters
    iterates, losses = [], []

    def image_fun(x):
        loss, grad = fun(x.ravel())
        return loss, grad.reshape(x.shape)

    def callback(x):
        iterates.append(x.ravel())
        losses.append(fun(x.ravel())[0])

    result = minimize(
        image_fun, np.zeros(shape, np.float32), 200, callback, memory=10,
        bounds=None if bounds is None else (low.reshape(shape), high.reshape(shape)),
        precondition=LowPass(smoothing, brightness=3.0) if smoothing else None,
    )  # fmt: skip
    assert len(iterates) >= 20
    assert all(later < earlier for earlier, later in itertools.pairwise(losses))
    if bounded:
        assert all(((low <= x) & (x <= high)).all() for x in iterates)
    np.testing.assert_allclose(result.x.ravel(), reference.x, atol=1e-3)
    assert fun(result.x.ravel())[0] <= reference.fun + 1e-6 * abs(reference.fun)
    assert result.evaluations >= len(iterates) + 1


def test_it_stops_when_nothing_can_move():
    def fun(x):
        return float(np.sum(x)), np.ones_like(x)  # every element pushed below its lower bound

    x0 = np.zeros(5, np.float32)
    bounds = (np.zeros(5, np.float32), np.ones(5, np.float32))
    result = minimize(fun, x0, 10, lambda _: pytest.fail("no step can be made"), bounds=bounds)
    assert result.message.startswith("converged") and result.evaluations == 1


def test_a_run_continued_from_its_saved_memory_makes_the_same_steps():
    """4 steps, then 6 more from where they stopped and their curvature memory as a state file
    holds it (plain arrays s, y): the iterates of 10 steps in one run, bit for bit."""
    shape = (1, 3, 3, 4)
    _, _, fun = _quadratic(int(np.prod(shape)), seed=5)
    optimizer = LBFGS(memory=3, smoothing=2.0)

    def image_fun(x):
        loss, grad = fun(x.ravel())
        return loss, grad.reshape(x.shape)

    def run(x0, steps, state=None):
        iterates, states = [], []

        def callback(x, memory):
            iterates.append(x)
            states.append(memory)

        result = optimizer.minimize(image_fun, x0, steps, callback, state=state)
        return result, iterates, states

    straight, expected, _ = run(np.zeros(shape, np.float32), 10)
    first, iterates, states = run(np.zeros(shape, np.float32), 4)
    saved = {key: np.array(value) for key, value in states[-1].items()}
    assert saved["s"].shape == saved["y"].shape == (3, *shape)  # full: continuing it matters
    second, more, _ = run(first.x, 6, saved)
    np.testing.assert_array_equal(np.stack(iterates + more), np.stack(expected))
    assert first.evaluations + second.evaluations == straight.evaluations + 1
    _, restarted, _ = run(first.x, 6)  # without the memory the steps differ
    assert not np.array_equal(np.stack(restarted), np.stack(expected[4:]))


def test_a_memory_that_does_not_fit_the_image_is_refused():
    memory = {"s": np.ones((2, 1, 3, 4, 4), np.float32), "y": np.ones((2, 1, 3, 4, 4), np.float32)}
    with pytest.raises(UsageError, match="does not fit"):
        LBFGS(memory=3).curvature(memory, (1, 3, 5, 4))
    with pytest.raises(UsageError, match="damaged"):
        LBFGS(memory=3).curvature({"s": memory["s"]}, (1, 3, 4, 4))
    assert len(LBFGS(memory=3).curvature(memory, (1, 3, 4, 4))) == 2
    assert LBFGS().kept(memory, interrupted=False) == {}
    assert LBFGS().kept(memory, interrupted=True) is memory
