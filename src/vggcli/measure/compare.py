"""``vgg check IMAGE --compare A,B``: two implementations through the whole network on one image,
layer by layer. Each layer of the second is also run on the *first's* input to that layer
("isolated"), so an error is pinned on the layer that makes it rather than on every layer after
it (lab manual §3.1.7, question 2)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from vggcli import models
from vggcli.engine.network import FLOAT32_TOLERANCE
from vggcli.errors import UsageError
from vggcli.images import load_image, resize, to_input
from vggcli.measure.gradcheck import relative_error
from vggcli.weights.resolve import resolve_weights


@dataclass(frozen=True)
class LayerDivergence:
    """How far implementation B is from A at one layer: on A's input to that layer
    (``isolated``) and after running the whole network itself (``propagated``)."""

    name: str
    isolated: float
    propagated: float
    tolerance: float = FLOAT32_TOLERANCE

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
