"""Correctness checks a user can run on their own machine (``vgg check``).

* :func:`layer_checks`: a backend's conv and pool layers, forward and every backward output, on
  random inputs of several shapes, against the loops reference (and torch when installed).
* :func:`gradient_checks`: analytic gradients against float64 central differences for conv,
  pool, fully connected, ReLU, softmax and the style-transfer losses — the check that needs no
  known-good output (lab manual §3.3.7, question 3).
* :func:`compare_networks`: two implementations through the whole network on one image, layer
  by layer. Each layer of the second is also run on the *first's* input to that layer
  ("isolated"), so an error is pinned on the layer that makes it rather than on every layer
  after it (lab manual §3.1.7, question 2).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from vggcli.engine import models, ops
from vggcli.engine.backends.base import Backend
from vggcli.engine.network import FLOAT32_TOLERANCE
from vggcli.errors import UsageError
from vggcli.images import load_image, resize, to_input
from vggcli.measure.gradcheck import numeric_gradient, relative_error
from vggcli.measure.layercases import conv_case, pool_case
from vggcli.measure.torch_reference import TORCH, TorchOps
from vggcli.style import losses
from vggcli.weights.cache import resolve_weights

FLOAT32_TOL = FLOAT32_TOLERANCE
GRADIENT_TOL = 1e-5

# (N, Cin, H, W, Cout, K, stride, pad) and (N, C, H, W, K, stride): odd sizes, strides, padding
CONV_CASES = (
    (1, 3, 7, 9, 4, 3, 1, 1),
    (2, 16, 9, 7, 16, 3, 1, 1),  # wide enough for winograd's own path
    (1, 32, 6, 5, 24, 3, 1, 0),
    (2, 5, 8, 6, 3, 3, 2, 1),
    (1, 6, 5, 7, 2, 1, 1, 0),
    (2, 4, 9, 11, 6, 5, 1, 2),
)
POOL_CASES = ((1, 3, 8, 8, 2, 2), (2, 4, 7, 9, 2, 2), (1, 2, 9, 9, 3, 2))


@dataclass(frozen=True)
class Check:
    name: str
    max_rel_error: float
    tolerance: float

    @property
    def passed(self) -> bool:
        return bool(self.max_rel_error <= self.tolerance)  # NaN fails


def layer_checks(backend: Backend, references: dict[str, Backend]) -> list[Check]:
    """``backend`` against each reference on :data:`CONV_CASES` and :data:`POOL_CASES`:
    the forward output and every backward output (dx, and dw, db for conv)."""
    cases = []
    for n, cin, h, w, cout, k, s, p in CONV_CASES:
        cases.append(
            (
                f"conv {n}x{cin}x{h}x{w}→{cout} k{k} s{s} p{p}",
                conv_case((n, cin, h, w), cout, k, s, p, seed=len(cases)),
            )
        )
    for n, c, h, w, k, s in POOL_CASES:
        cases.append(
            (f"maxpool {n}x{c}x{h}x{w} k{k} s{s}", pool_case((n, c, h, w), k, s, seed=len(cases)))
        )
    checks = []
    for label, case in cases:
        ours = case.run(backend)[2]
        for ref_name, ref in references.items():
            theirs = case.run(ref)[2]
            checks += [
                Check(
                    f"{label} {key} vs {ref_name}",
                    relative_error(ours[key], theirs[key]),
                    FLOAT32_TOL,
                )
                for key in ours
            ]
    return checks


def _grad_check(name: str, loss: Callable[[], float], analytic: np.ndarray, wrt: np.ndarray):
    return Check(
        f"{name} vs central differences",
        relative_error(analytic, numeric_gradient(loss, wrt)),
        GRADIENT_TOL,
    )


def gradient_checks(backend: Backend) -> list[Check]:
    """Every backward pass of ``backend`` and of the shared layers and losses, numerically."""
    rng = np.random.default_rng(1)
    return (
        conv_gradient_checks(backend, 3, 2, 1, rng)
        + conv_gradient_checks(backend, 3, 1, 1, rng, channels=(16, 16))
        + pool_gradient_checks(backend, 3, 2, rng)
        + shared_gradient_checks(rng)
    )


def conv_gradient_checks(
    backend: Backend,
    kernel: int,
    stride: int,
    pad: int,
    rng: np.random.Generator,
    channels: tuple[int, int] = (3, 2),
) -> list[Check]:
    """dx, dW, db of one float64 convolution x [2, Cin, 5, 6] → Cout channels, for
    L = Σ y ⊙ g."""
    cin, cout = channels
    x = rng.standard_normal((2, cin, 5, 6))
    w = rng.standard_normal((cin, kernel, kernel, cout))
    b = rng.standard_normal(cout)
    y, cache = backend.conv2d_forward(x, w, b, stride, pad)
    g = rng.standard_normal(y.shape)
    dx, dw, db = backend.conv2d_backward(g, cache)

    def conv_loss():
        return float(np.sum(backend.conv2d_forward(x, w, b, stride, pad)[0] * g))

    where = f"conv {cin}→{cout} {kernel}x{kernel}/{stride}/pad {pad}"
    return [
        _grad_check(f"{where} {what}", conv_loss, analytic, wrt)
        for what, analytic, wrt in (("dx", dx, x), ("dw", dw, w), ("db", db, b))
    ]


def pool_gradient_checks(
    backend: Backend, kernel: int, stride: int, rng: np.random.Generator
) -> list[Check]:
    """dx of one float64 max pooling of x [2, 2, 6, 7], for L = Σ y ⊙ g."""
    xp = rng.standard_normal((2, 2, 6, 7))
    y, cache = backend.maxpool2d_forward(xp, kernel, stride)
    g = rng.standard_normal(y.shape)
    return [
        _grad_check(
            f"maxpool {kernel}x{kernel}/{stride} dx",
            lambda: float(np.sum(backend.maxpool2d_forward(xp, kernel, stride)[0] * g)),
            backend.maxpool2d_backward(g, cache),
            xp,
        )
    ]


def shared_gradient_checks(rng: np.random.Generator) -> list[Check]:
    """The layers every backend shares (fc, ReLU, softmax) and the style-transfer losses."""
    checks = []
    xf, wf, bf = rng.standard_normal((3, 6)), rng.standard_normal((6, 4)), rng.standard_normal(4)
    g = rng.standard_normal((3, 4))
    fdx, fdw, fdb = ops.linear_backward(g, xf, wf)

    def fc_loss():
        return float(np.sum(ops.linear_forward(xf, wf, bf) * g))

    checks += [
        _grad_check(f"fully connected {what}", fc_loss, analytic, wrt)
        for what, analytic, wrt in (("dx", fdx, xf), ("dw", fdw, wf), ("db", fdb, bf))
    ]

    z, g = rng.standard_normal((2, 5)), rng.standard_normal((2, 5))
    checks.append(
        _grad_check(
            "relu dx",
            lambda: float(np.sum(ops.relu_forward(z) * g)),
            ops.relu_backward(g, ops.relu_forward(z)),
            z,
        )
    )
    checks.append(
        _grad_check(
            "softmax dx",
            lambda: float(np.sum(ops.softmax_forward(z) * g)),
            ops.softmax_backward(g, ops.softmax_forward(z)),
            z,
        )
    )

    feats, target = rng.standard_normal((1, 4, 3, 5)), rng.standard_normal((1, 4, 3, 5))
    checks.append(
        _grad_check(
            "content loss dX",
            lambda: losses.content_loss(feats, target)[0],
            losses.content_loss(feats, target)[1],
            feats,
        )
    )
    gram = losses.gram(rng.standard_normal((1, 4, 3, 5)))
    checks.append(
        _grad_check(
            "style loss dX",
            lambda: losses.style_loss(feats, gram)[0],
            losses.style_loss(feats, gram)[1],
            feats,
        )
    )
    checks.append(
        _grad_check(
            "total variation dX", lambda: losses.tv_loss(feats)[0], losses.tv_loss(feats)[1], feats
        )
    )
    return checks


@dataclass(frozen=True)
class LayerDivergence:
    """How far implementation B is from A at one layer: on A's input to that layer
    (``isolated``) and after running the whole network itself (``propagated``)."""

    name: str
    isolated: float
    propagated: float
    tolerance: float = FLOAT32_TOL

    @property
    def passed(self) -> bool:
        return bool(self.isolated <= self.tolerance)


@dataclass(frozen=True)
class Agreement:
    """Two classifiers' predictions on one image: top-1 class of each and the largest
    |Δp| over the 1000 probabilities."""

    top1_a: int
    top1_b: int
    max_abs_dp: float

    @property
    def same_class(self) -> bool:
        return self.top1_a == self.top1_b


def compare_networks(
    model_a, model_b, x: np.ndarray, last: str, progress=None
) -> tuple[list[LayerDivergence], Agreement | None]:
    """Run ``x`` through both models (a Network, or the DLP path) up to ``last``, keeping
    every layer's output, and compare them layer by layer; with ``last`` the softmax, also
    their predictions. The tolerance is the second model's (int8 for the DLP, float32
    rounding otherwise)."""
    names = [c.layer.name for c in model_a.plan(x.shape, [last])]
    out_a = model_a.forward(x, names, progress=progress).outputs
    out_b = model_b.forward(x, names, progress=progress).outputs
    tolerance = model_b.tolerance
    rows = []
    previous = x
    for name in names:
        isolated = model_b.run_layer(name, previous)
        rows.append(
            LayerDivergence(
                name,
                relative_error(isolated, out_a[name]),
                relative_error(out_b[name], out_a[name]),
                tolerance,
            )
        )
        previous = out_a[name]
    agreement = None
    if last == "softmax":
        pa, pb = out_a[last][0], out_b[last][0]
        agreement = Agreement(int(np.argmax(pa)), int(np.argmax(pb)), float(np.abs(pa - pb).max()))
    return rows, agreement


def check_backend(name: str) -> tuple[list[Check], list[str]]:
    """``vgg check --backend name``: its layers against the loops reference and torch (when
    installed), and its gradients against central differences. (checks, notes for the user)."""
    backend = models.layer_backend(
        name, f"check it on an image: vgg check IMAGE --compare img2col,{name}"
    )
    references: dict[str, Backend] = {}
    notes = []
    if backend.name != "loops":
        references["loops"] = models.layer_backend("loops", "")
    try:
        references[TORCH] = TorchOps()
    except UsageError:
        notes.append("torch is not installed: comparing with the loops reference only")
    return layer_checks(backend, references) + gradient_checks(backend), notes


@dataclass(frozen=True)
class NetworkComparison:
    """Two models through the network on one image, layer by layer."""

    a: models.Model
    b: models.Model
    rows: list[LayerDivergence]
    agreement: Agreement | None = None  # with the softmax: the two predictions


def compare_on_image(
    image,
    names: Sequence[str],
    weights_spec: str | None,
    size: tuple[int, int] | None,
    *,
    quant_params=None,
    progress_for: Callable[[int, str], object] | None = None,
    notify=None,
) -> NetworkComparison:
    """``vgg check IMAGE --compare A,B``: B against A at every layer, to the softmax (224x224
    with a classifier) or pool5. ``progress_for(total_work, label)`` makes a progress callback
    (a context manager)."""
    if len(names) != 2 or len({models.choice(n).name for n in names}) != 2:
        raise UsageError("--compare takes two different backends, A,B: B is checked against A")
    weights = resolve_weights(weights_spec, need_classifier=False, notify=notify)
    size = size or ((224, 224) if weights.has_classifier else (64, 64))
    last = "softmax" if weights.has_classifier and size == (224, 224) else "pool5"
    x = to_input(resize(load_image(image), size), weights.preprocessing)
    a, b = (
        models.build_model(
            n,
            weights,
            quant_params=quant_params if models.choice(n).name == "dlp" else None,
            notify=notify,
        )
        for n in names
    )
    total = 2 * sum(c.work for c in a.plan(x.shape, [last]))
    if progress_for is None:
        return NetworkComparison(a, b, *compare_networks(a, b, x, last))
    with progress_for(total, f"check {a.name} vs {b.name}") as bar:
        return NetworkComparison(a, b, *compare_networks(a, b, x, last, progress=bar))
