"""Style-transfer maths against PyTorch autograd: losses, image gradient, Adam; L-BFGS; resume."""

from __future__ import annotations

import itertools
import json
from dataclasses import astuple, dataclass

import numpy as np
import pytest

from tests import matfiles
from tests.conftest import rel_error
from vggcli.engine.backends import BACKENDS
from vggcli.engine.network import Network
from vggcli.errors import UsageError
from vggcli.style.losses import content_loss, gram, style_loss, tv_loss
from vggcli.style.objective import TV_SCALE, Objective, StyleOptions, initial_image
from vggcli.style.optim import OPTIMIZERS, Adam, Optimizer
from vggcli.style.run import RunState, StyleTransfer
from vggcli.style.runfiles import load_state, save_state
from vggcli.weights.matconvnet import read_matconvnet

SHAPES = [(1, 3, 5, 7), (2, 8, 6, 4), (1, 64, 12, 20), (1, 512, 3, 5)]


def _features(shape, seed, dtype=np.float32):
    return np.maximum(np.random.default_rng(seed).standard_normal(shape), 0).astype(dtype) * 10


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_content_loss_and_gradient_match_torch(torch, shape):
    x, y = _features(shape, 1), _features(shape, 2)
    loss, grad = content_loss(x, y)
    tx = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    n, c, h, w = shape
    tloss = ((tx - torch.tensor(y, dtype=torch.float64)) ** 2).sum() / (2 * n * c * h * w)
    tloss.backward()
    assert loss == pytest.approx(tloss.item(), rel=1e-5)
    assert grad.dtype == np.float32
    assert rel_error(grad, tx.grad.numpy()) <= 1e-5


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_style_loss_and_gradient_match_torch(torch, shape):
    x, s = _features(shape, 3), _features(shape, 4)
    target = gram(s)
    loss, grad = style_loss(x, target)
    n, c, h, w = shape
    tx = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    flat = tx.reshape(n, c, h * w)
    g = flat @ flat.transpose(1, 2)  # eq. 3.12
    a = torch.tensor(target, dtype=torch.float64)
    tloss = ((g - a) ** 2).sum() / (4 * n * c**2 * (h * w) ** 2)  # eq. 3.13
    tloss.backward()
    assert rel_error(gram(x), g.detach().numpy()) <= 1e-5
    assert loss == pytest.approx(tloss.item(), rel=1e-5)
    assert rel_error(grad, tx.grad.numpy()) <= 1e-5


def test_style_loss_reads_channels_last_maps_in_place():
    """img2col's maps are NCHW views of NHWC memory: same loss and gradient as contiguous NCHW,
    and the gradient comes back in the map's memory order (no transposing copy downstream)."""
    x = _features((2, 5, 4, 6), 6)
    x_last = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    target = gram(_features((2, 5, 4, 6), 7))
    loss, grad = style_loss(x, target)
    loss_last, grad_last = style_loss(x_last, target)
    assert loss_last == pytest.approx(loss, rel=1e-12)
    np.testing.assert_allclose(grad_last, grad, rtol=1e-12, atol=0)
    np.testing.assert_allclose(gram(x_last), gram(x), rtol=1e-12, atol=0)
    assert grad_last.transpose(0, 2, 3, 1).flags.c_contiguous


def test_style_loss_of_the_style_itself_is_zero():
    s = _features((1, 4, 6, 6), 5)
    loss, grad = style_loss(s, gram(s))
    assert loss == 0.0 and not grad.any()


def test_tv_loss_matches_torch(torch):
    x = np.random.default_rng(6).standard_normal((1, 3, 7, 9)).astype(np.float32)
    loss, grad = tv_loss(x)
    tx = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    t = ((tx[:, :, 1:] - tx[:, :, :-1]) ** 2).sum() + ((tx[..., 1:] - tx[..., :-1]) ** 2).sum()
    (t / x.size).backward()
    assert loss == pytest.approx((t / x.size).item(), rel=1e-5)
    assert rel_error(grad, tx.grad.numpy()) <= 1e-5
    assert tv_loss(np.full((1, 3, 4, 4), 7.0))[0] == 0.0


def _objective(tiny_mat, options=None, size=(40, 48), styles=1, seed=0, backend="img2col"):
    options = options or StyleOptions()
    net = Network(read_matconvnet(tiny_mat), BACKENDS[backend]())
    rng = np.random.default_rng(seed)
    content = (rng.standard_normal((1, 3, *size)) * 40).astype(np.float32)
    style_images = [
        ((rng.standard_normal((1, 3, *size)) * 40).astype(np.float32), 1.0) for _ in range(styles)
    ]
    return Objective(net, content, style_images, options), content, style_images


@pytest.mark.parametrize("backend", ["img2col", "winograd"])
def test_image_gradient_of_the_objective_matches_torch(torch, tiny_raw, tiny_mat, backend):
    options = StyleOptions(
        alpha=2.0,
        beta=300.0,
        tv_weight=0.5,
        style_layers=(
            ("relu1_1", 0.5),
            ("relu2_1", 1.0),
            ("relu3_1", 2.0),
            ("relu4_1", 1.0),
            ("relu5_1", 1.0),
        ),
    )
    objective, content, _ = _objective(tiny_mat, options, backend=backend)
    x = (np.random.default_rng(9).standard_normal(content.shape) * 40).astype(np.float32)
    losses, grad = objective.evaluate(x)

    params = matfiles.torch_params(torch, tiny_raw)
    tx = torch.tensor(x, requires_grad=True)
    outs = matfiles.torch_outputs(torch, params, tx)
    yc = torch.tensor(objective.content_targets["relu4_2"])
    c = ((outs["relu4_2"] - yc) ** 2).sum() / (2 * yc.numel())
    style = 0
    for name, weight in options.style_layers:
        f = outs[name]
        n, ch, h, w = f.shape
        flat = f.reshape(n, ch, h * w)
        g = flat @ flat.transpose(1, 2)
        a = torch.tensor(objective.style_targets[name])
        style = style + weight * ((g - a) ** 2).sum() / (4 * n * ch**2 * (h * w) ** 2) / 5
    tv = ((tx[:, :, 1:] - tx[:, :, :-1]) ** 2).sum() + ((tx[..., 1:] - tx[..., :-1]) ** 2).sum()
    tv = tv / tx.numel() * TV_SCALE
    total = 2.0 * c + 300.0 * style + 0.5 * tv
    total.backward()
    assert losses.content == pytest.approx(c.item(), rel=1e-4)
    assert losses.style == pytest.approx(style.item(), rel=1e-4)
    assert losses.total == pytest.approx(total.item(), rel=1e-4)
    assert rel_error(grad, tx.grad.numpy()) <= 1e-4
    assert grad.dtype == np.float32  # nothing on the way was promoted to float64


def test_blended_styles_mix_the_gram_matrices(tiny_mat):
    objective, _, styles = _objective(tiny_mat, styles=2)
    net = objective.network
    blended = Objective(
        net, styles[0][0], [(styles[0][0], 0.7), (styles[1][0], 0.3)], StyleOptions()
    )
    f0 = net.forward(styles[0][0], ["relu3_1"]).outputs["relu3_1"]
    f1 = net.forward(styles[1][0], ["relu3_1"]).outputs["relu3_1"]
    expected = 0.7 * gram(f0) + 0.3 * gram(f1)
    assert rel_error(blended.style_targets["relu3_1"], expected) <= 1e-5


def test_a_larger_style_image_is_normalised_by_area(tiny_mat):
    objective, content, _ = _objective(tiny_mat)
    style = np.repeat(np.repeat(content, 2, axis=2), 2, axis=3)  # twice the size
    scaled = Objective(objective.network, content, [(style, 1.0)], StyleOptions())
    features = objective.network.forward(style, ["relu2_1"]).outputs["relu2_1"]
    assert rel_error(scaled.style_targets["relu2_1"], gram(features) / 4) <= 1e-6


def test_an_objective_through_a_layer_has_the_gradient_of_the_terms_up_to_it(tiny_mat):
    """Through relu3_1 (of content relu4_2 and style relu1_1 … relu5_1): every loss as the
    whole objective's, the gradient and ``optimised`` those of the objective made of the
    style terms up to relu3_1 only, each weighted as in the whole (1/5, not 1/3)."""
    options = StyleOptions(tv_weight=2.0)
    whole, content, styles = _objective(tiny_mat, options)
    x = (content + np.random.default_rng(1).normal(0, 20, content.shape)).astype(np.float32)
    shallow_layers = tuple((name, w * 3 / 5) for name, w in options.style_layers[:3])
    part = Objective(
        whole.network, content, styles,
        StyleOptions(content_layers=(), style_layers=shallow_layers, tv_weight=2.0),
    )  # fmt: skip
    losses, grad = whole.through("relu3_1").evaluate(x)
    expected, expected_grad = part.evaluate(x)
    assert astuple(losses)[:4] == astuple(whole.evaluate(x)[0])[:4]
    assert whole.evaluate(x)[0].optimised is None
    assert losses.optimised == pytest.approx(expected.total, rel=1e-6)
    assert losses.optimised < losses.total
    assert rel_error(grad, expected_grad) <= 1e-5


def test_unknown_layers_and_too_small_images(tiny_mat):
    with pytest.raises(UsageError, match="unknown style layer 'relu9_1'; valid layers: conv1_1"):
        _objective(tiny_mat, StyleOptions(style_layers=(("relu9_1", 1.0),)))
    with pytest.raises(UsageError, match="unknown content layer 'fc6'"):
        _objective(tiny_mat, StyleOptions(content_layers=("fc6",)))
    with pytest.raises(UsageError, match="too small"):
        _objective(tiny_mat, size=(12, 40))
    with pytest.raises(UsageError, match="optimizer"):
        StyleOptions(optimizer="sgd")


def test_adam_matches_torch_step_for_step(torch):
    rng = np.random.default_rng(10)
    target = rng.standard_normal((1, 3, 4, 5)).astype(np.float32)
    scale = rng.uniform(0.5, 3, target.shape).astype(np.float32)
    x = np.zeros_like(target)
    adam = Adam(lr=0.1)
    state = adam.init(x)
    tx = torch.zeros(target.shape, requires_grad=True)
    topt = torch.optim.Adam([tx], lr=0.1, betas=(0.9, 0.999), eps=1e-8)
    for _ in range(25):
        grad = 2 * scale * (x - target)
        x, state = adam.step(x, grad, state)
        topt.zero_grad()
        (torch.tensor(scale) * (tx - torch.tensor(target)) ** 2).sum().backward()
        topt.step()
        assert rel_error(x, tx.detach().numpy()) <= 1e-5
    assert int(state["t"]) == 25


def test_initial_images(tiny_mat):
    content = np.full((1, 3, 4, 4), 10.0, np.float32)
    noisy = initial_image(content, StyleOptions(noise=0.5, seed=1))
    assert np.all(np.abs(noisy - 5.0) <= 10.0) and noisy.std() > 1
    np.testing.assert_array_equal(noisy, initial_image(content, StyleOptions(noise=0.5, seed=1)))
    assert not np.array_equal(noisy, initial_image(content, StyleOptions(noise=0.5, seed=2)))
    np.testing.assert_array_equal(initial_image(content, StyleOptions(init="content")), content)
    assert np.abs(initial_image(content, StyleOptions(init="random"))).max() <= 20


def test_lbfgs_lowers_the_loss_at_every_iteration(tiny_mat):
    objective, content, _ = _objective(tiny_mat, StyleOptions(optimizer="lbfgs"))
    calls = []
    evaluate = objective.evaluate
    objective.evaluate = lambda x, gradient=True: calls.append(x) or evaluate(x, gradient)
    transfer = StyleTransfer(objective, RunState(initial_image(content, objective.options), 0))
    final = transfer.run(8)
    totals = [row[4] for row in final.history]
    assert [int(row[0]) for row in final.history] == list(range(len(totals)))
    assert final.step == len(totals) - 1 >= 5
    assert all(b <= a for a, b in itertools.pairwise(totals))
    assert totals[-1] < totals[0] / 2
    # the last row is the final image's loss, from the line search: not evaluated once more
    assert f"({len(calls)} evaluations of the loss)" in transfer.stop_reason
    assert calls[-1] is final.image
    assert totals[-1] == evaluate(final.image, gradient=False)[0].total


def test_resumed_adam_run_equals_the_straight_run_bit_for_bit(tiny_mat, tmp_path):
    objective, content, _ = _objective(tiny_mat)
    start = RunState(initial_image(content, objective.options), 0)
    straight = StyleTransfer(objective, start).run(6)

    first = StyleTransfer(objective, start).run(3)
    fingerprint = {"run": "test", "shape": list(content.shape)}
    save_state(tmp_path / "s.npz", first, fingerprint, "adam")
    resumed = StyleTransfer(objective, load_state(tmp_path / "s.npz", fingerprint)).run(6)
    np.testing.assert_array_equal(resumed.image, straight.image)
    assert resumed.history == straight.history and resumed.step == 6
    for key in ("m", "v", "t"):
        np.testing.assert_array_equal(resumed.optimizer_state[key], straight.optimizer_state[key])


def test_a_state_file_of_format_1_still_resumes_bit_for_bit(tiny_mat, tmp_path):
    """vggcli 0.1.0 saved Adam's moments as adam_m, adam_v, adam_t (state format 1)."""
    objective, content, _ = _objective(tiny_mat)
    start = RunState(initial_image(content, objective.options), 0)
    straight = StyleTransfer(objective, start).run(6)
    first = StyleTransfer(objective, start).run(3)
    fingerprint = {"run": "test"}
    np.savez(
        tmp_path / "v1.npz",
        format=np.array(1),
        vggcli_version=np.array("0.1.0"),
        fingerprint=np.array(json.dumps(fingerprint)),
        image=first.image,
        step=np.array(first.step),
        history=np.array([row[:5] for row in first.history]),  # no sizes in format 1
        adam_m=first.optimizer_state["m"],
        adam_v=first.optimizer_state["v"],
        adam_t=first.optimizer_state["t"],
    )
    resumed = StyleTransfer(objective, load_state(tmp_path / "v1.npz", fingerprint)).run(6)
    np.testing.assert_array_equal(resumed.image, straight.image)
    assert resumed.history == straight.history


def test_a_new_optimiser_is_one_class_and_one_registry_line(tiny_mat, monkeypatch):
    @dataclass(frozen=True)
    class SGD(Optimizer):
        name = "sgd"
        description = "plain gradient descent"

        def step(self, x, grad, state):
            return x - self.lr * grad, state

    monkeypatch.setitem(OPTIMIZERS, "sgd", SGD)
    objective, content, _ = _objective(tiny_mat, StyleOptions(optimizer="sgd", lr=1e-3))
    x0 = initial_image(content, objective.options)
    final = StyleTransfer(objective, RunState(x0, 0)).run(2)
    losses, grad = objective.evaluate(x0)
    expected = x0 - np.float32(1e-3) * grad
    np.testing.assert_allclose(
        StyleTransfer(objective, RunState(x0, 0)).run(1).image, expected, rtol=1e-6
    )
    assert final.step == 2 and final.history[0][4] == losses.total
    with pytest.raises(UsageError, match="unknown optimizer 'nope'; choose adam, lbfgs, sgd"):
        StyleOptions(optimizer="nope")


def test_state_files_from_another_run_are_refused(tiny_mat, tmp_path):
    state = RunState(np.zeros((1, 3, 4, 4), np.float32), 2, ((0, 1.0, 2.0, 0, 3.0, 4, 4),))
    path = save_state(tmp_path / "s.npz", state, {"lr": 1.0}, "adam")
    with pytest.raises(UsageError, match=r"belongs to another run: lr 1\.0 in the state, 0\.5 now"):
        load_state(path, {"lr": 0.5})
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(UsageError, match="not a vggcli state file"):
        load_state(tmp_path / "junk.npz", {})
    with pytest.raises(UsageError, match="state file not found"):
        load_state(tmp_path / "none.npz", {})
    np.savez(tmp_path / "old.npz", format=np.array(0), vggcli_version=np.array("0.0.1"))
    with pytest.raises(UsageError, match=r"written by vggcli 0\.0\.1 \(state format 0\)"):
        load_state(tmp_path / "old.npz", {})


@pytest.mark.parametrize(
    "values",
    [[1e300, 1e299, 1e298], [1e308, 1.7e308, 1e-300], [float("inf"), 5.0, 4.0], [0.0, 0.0, 0.0]],
)
def test_the_loss_chart_draws_any_finite_range(values):
    """--beta 1e290 gives losses near the float64 limit: the chart must still be drawn."""
    from vggcli.style.chart import loss_chart

    img = loss_chart([0, 1, 2], {"total": values}, title="t")
    assert img.size[0] > 0 and img.getextrema() != ((255, 255), (255, 255), (255, 255))
