"""vggcli's L-BFGS (style/lbfgs.py) against the textbook formula and against scipy's L-BFGS-B."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.optimize

from vggcli.style.lbfgs import Curvature, minimize


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


def test_the_two_loop_direction_is_the_bfgs_inverse_hessian_times_the_gradient():
    """Nocedal & Wright eq. 6.17 applied pair by pair from H₀ = γI (eq. 7.20), written out as
    matrices, against the two-loop recursion."""
    n = 12
    a, _, _ = _quadratic(n, seed=1)
    rng = np.random.default_rng(2)
    curvature = Curvature(memory=4)
    pairs = []
    for _ in range(6):  # more than the memory: only the newest 4 count
        s = rng.normal(size=n)
        y = a @ s
        curvature.push(s.astype(np.float32), y.astype(np.float32))
        pairs = [*pairs, (s, y)][-4:]
    s, y = pairs[-1]
    h = np.eye(n) * (s @ y) / (y @ y)
    for s, y in pairs:
        rho = 1 / (s @ y)
        v = np.eye(n) - rho * np.outer(y, s)
        h = v.T @ h @ v + rho * np.outer(s, s)
    g = rng.normal(size=n)
    expected = -h @ g
    got = curvature.direction(g.astype(np.float32))
    assert len(curvature) == 4
    np.testing.assert_allclose(got, expected, rtol=2e-4, atol=2e-4 * np.abs(expected).max())


def test_a_pair_without_positive_curvature_is_not_kept():
    curvature = Curvature(memory=3)
    assert not curvature.push(np.ones(4, np.float32), -np.ones(4, np.float32))
    assert curvature.push(np.ones(4, np.float32), np.ones(4, np.float32))
    assert len(curvature) == 1
    np.testing.assert_array_equal(Curvature(2).direction(np.ones(3, np.float32)), -np.ones(3))


@pytest.mark.parametrize("bounded", [False, True])
def test_it_finds_scipys_l_bfgs_b_minimum(bounded):
    """A convex quadratic, with and without a box that cuts the unconstrained minimum off (the
    box is active at the solution): the same minimiser as scipy's L-BFGS-B, every step lower
    than the one before and inside the box."""
    n = 40
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

    def callback(x):
        iterates.append(x)
        losses.append(fun(x)[0])

    result = minimize(fun, np.zeros(n, np.float32), 200, callback, bounds=bounds, memory=10)
    assert len(iterates) >= 20
    assert all(later < earlier for earlier, later in itertools.pairwise(losses))
    if bounded:
        assert all(((low <= x) & (x <= high)).all() for x in iterates)
    np.testing.assert_allclose(result.x, reference.x, atol=1e-3)
    assert fun(result.x)[0] <= reference.fun + 1e-6 * abs(reference.fun)
    assert result.evaluations >= len(iterates) + 1


def test_it_stops_when_nothing_can_move():
    def fun(x):
        return float(np.sum(x)), np.ones_like(x)  # every element pushed below its lower bound

    x0 = np.zeros(5, np.float32)
    bounds = (np.zeros(5, np.float32), np.ones(5, np.float32))
    result = minimize(fun, x0, 10, lambda _: pytest.fail("no step can be made"), bounds=bounds)
    assert result.message.startswith("converged") and result.evaluations == 1
