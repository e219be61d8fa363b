"""The one interface of what --backend builds, and the registry that makes a backend a choice."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

import vggcli
from vggcli import models
from vggcli.cli import main
from vggcli.dlp.adapter import DlpNetwork
from vggcli.engine.backends import BACKENDS
from vggcli.engine.backends.img2col import Img2colBackend
from vggcli.errors import UsageError
from vggcli.weights.matconvnet import read_matconvnet

EXAMPLE = "examples/chelsea.png"


def test_the_public_api_is_importable_from_vggcli(tiny_mat):
    weights = vggcli.resolve_weights(str(tiny_mat), need_classifier=True)
    model = vggcli.build_model("img2col", weights)
    x = np.zeros((1, 3, 224, 224), np.float32)
    probs = model.forward(x, ("softmax",)).outputs["softmax"]
    assert probs.shape == (1, weights.params["fc8"][0].shape[1])
    assert abs(float(probs.sum()) - 1) < 1e-5


@pytest.mark.parametrize("name", ["loops", "img2col", "dlp", "dlp-pycnml"])
def test_every_choice_builds_a_model(name, tiny_mat):
    model = models.build_model(name, read_matconvnet(tiny_mat))
    assert isinstance(model, models.Model)
    assert model.name == models.choice(name).name
    assert model.inference_only is (model.name == "dlp")
    assert isinstance(model, DlpNetwork) is (model.name == "dlp")
    assert model.can_tap("softmax") and model.label.startswith(model.name)
    assert bool(model.details()) is (model.name == "dlp")


def test_capabilities_replace_name_checks(tiny_mat):
    weights = read_matconvnet(tiny_mat)
    with pytest.raises(UsageError, match=r"dlp backend is inference-only.*use loops, img2col"):
        models.build_model("dlp", weights, need_gradients=True)
    with pytest.raises(UsageError, match="--quant-params is for the dlp backend, not loops"):
        models.build_model("loops", weights, quant_params="q.npz")
    with pytest.raises(UsageError, match="unknown backend 'tpu'; choose one of: loops, img2col"):
        models.choice("tpu")
    with pytest.raises(UsageError, match="no separate conv/pool layers"):
        models.layer_backend("dlp", "why")


def test_a_new_backend_is_one_class_and_one_registry_line(monkeypatch, tiny_mat):
    """Registered in BACKENDS, a backend is offered by every command that takes --backend."""

    class Counting(Img2colBackend):
        name = "counting"
        description = "img2col that counts its convolutions"
        calls = 0

        def conv2d_forward(self, *args, **kwargs):
            type(self).calls += 1
            return super().conv2d_forward(*args, **kwargs)

    monkeypatch.setitem(BACKENDS, Counting.name, Counting)
    assert "counting: img2col that counts" in models.help_text()
    runner = CliRunner()
    common = ["--weights", str(tiny_mat), "--json"]
    out = runner.invoke(main, ["classify", EXAMPLE, "--backend", "counting", *common])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)
    assert doc["backend"] == "counting" and Counting.calls == 16
    out = runner.invoke(main, ["check", "--backend", "counting", "--json"])
    assert out.exit_code == 0 and json.loads(out.stdout)["passed"]
    out = runner.invoke(
        main, ["bench", "conv", "--compare", "img2col,counting", "--size", "32", "--json"]
    )
    assert out.exit_code == 0, out.output
    assert [r["backend"] for r in json.loads(out.stdout)["results"]] == ["img2col", "counting"]
