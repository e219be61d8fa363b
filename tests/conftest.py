"""Shared fixtures: an isolated cache, the torch oracle, generated MatConvNet weight files."""

from __future__ import annotations

import os

import numpy as np
import pytest

from tests import matfiles


def pytest_configure(config):
    # `make test` sets this: there, a missing torch is a failure, not a silent skip.
    config.require_torch = os.environ.get("VGGCLI_REQUIRE_TORCH") == "1"


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own empty cache and no weights from the environment."""
    cache = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("VGGCLI_CACHE_DIR", str(cache))
    monkeypatch.delenv("VGGCLI_WEIGHTS", raising=False)
    return cache


@pytest.fixture(scope="session")
def torch(pytestconfig):
    """PyTorch, the independent oracle (CPU, float64 where the test asks for it)."""
    if pytestconfig.require_torch:
        import torch as torch_module
    else:
        torch_module = pytest.importorskip("torch")
    torch_module.set_num_threads(2)
    return torch_module


def rel_error(actual, expected) -> float:
    """max |actual − expected| / max |expected|: the tests' one error measure."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    scale = max(np.abs(expected).max(initial=0.0), 1e-30)
    return float(np.abs(actual - expected).max(initial=0.0) / scale)


@pytest.fixture(scope="session")
def tiny_raw():
    """Stored-layout arrays of a narrow VGG19 (channels 4-8-8-16-16, fc 32-32-1000)."""
    return matfiles.random_raw(np.random.default_rng(1), (4, 8, 8, 16, 16), (32, 32, 1000))


@pytest.fixture(scope="session")
def tiny_mat(tiny_raw, tmp_path_factory):
    """The tiny network written as a current-format MatConvNet file."""
    path = tmp_path_factory.mktemp("mat") / "tiny-current.mat"
    matfiles.write_matconvnet(path, tiny_raw, "current")
    return path


@pytest.fixture(scope="session")
def tiny_mat_beta16(tiny_raw, tmp_path_factory):
    path = tmp_path_factory.mktemp("mat") / "tiny-beta16.mat"
    matfiles.write_matconvnet(path, tiny_raw, "beta16")
    return path
