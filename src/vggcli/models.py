"""What ``--backend NAME`` builds: one declared interface, one registry, the name checked once.

A *model* runs VGG19 on some hardware or arithmetic. Two kinds implement :class:`Model`:

* :class:`~vggcli.engine.network.Network` over a conv/pool :class:`~vggcli.engine.backends.Backend`
  (loops, img2col, …): float32, forward and backward, any layer as a tap;
* :class:`~vggcli.dlp.adapter.DlpNetwork`: the int8 DLP path, inference only.

Commands ask :func:`build_model` for one by name and use only what :class:`Model` declares; the
capabilities (``inference_only``, ``tolerance``) replace checks of the name. Every conv/pool
backend registered in :data:`vggcli.engine.backends.BACKENDS` is a choice automatically; the
DLP path is the one extra entry of :func:`choices`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from vggcli.engine.backends import BACKENDS, DEFAULT_BACKEND, Backend
from vggcli.engine.network import ForwardResult, LayerProgress, Network
from vggcli.engine.vgg19 import Layer, LayerCost
from vggcli.engine.weightset import WeightSet
from vggcli.errors import UsageError

Notify = Callable[[str], None]


@runtime_checkable
class Model(Protocol):
    """VGG19 as a ``--backend`` runs it. Inputs are preprocessed images x [N, 3, H, W] (NCHW)."""

    name: str  # the registry name, e.g. "img2col"
    description: str  # one line: how it computes
    inference_only: bool  # True: no backward (style transfer, --backward need gradients)
    tolerance: float  # the relative error expected of its layers against float32 arithmetic
    layers: tuple[Layer, ...]

    @property
    def label(self) -> str:
        """How a report's header names what ran ("img2col", "dlp: emulated int8 …")."""

    def details(self) -> dict:
        """Facts a report adds about this model (JSON-ready; empty for the float backends)."""

    def can_tap(self, name: str) -> bool:
        """Whether :meth:`forward` can return the output of layer ``name``."""

    def plan(
        self, in_shape: tuple[int, ...], taps: Iterable[str] = ("softmax",)
    ) -> list[LayerCost]:
        """Shapes and costs of the layers that run for ``taps``; UsageError for a bad input."""

    def forward(
        self,
        x: np.ndarray,
        taps: Iterable[str] = ("softmax",),
        *,
        progress: LayerProgress | None = None,
    ) -> ForwardResult:
        """The outputs of the layers named in ``taps`` (softmax [N, 1000] by default)."""

    def run_layer(self, name: str, x: np.ndarray) -> np.ndarray:
        """The output of layer ``name`` alone for its input ``x`` (for layer-by-layer checks)."""


@dataclass(frozen=True)
class BuildOptions:
    """Options some models take; a model that does not use one refuses it when it is set."""

    quant_params: Path | None = None  # dlp: the course's int8 parameter file
    notify: Notify | None = None  # one-line notes for the user (slow first-time set-up)
    pooling: str = "max"  # "avg": average pooling (style transfer)


@dataclass(frozen=True)
class Choice:
    """One value of ``--backend``: what it builds and what it can do."""

    name: str
    help: str
    build: Callable[[WeightSet, BuildOptions], Model]
    inference_only: bool = False
    layer_backend: type[Backend] | None = None  # the conv/pool primitives, when it has them
    aliases: tuple[str, ...] = ()


def _network_choice(backend: type[Backend]) -> Choice:
    def build(weights: WeightSet, options: BuildOptions) -> Model:
        if options.quant_params is not None:
            raise UsageError(f"--quant-params is for the dlp backend, not {backend.name}")
        return Network(weights, backend(), options.pooling)

    return Choice(backend.name, backend.description, build, layer_backend=backend)


def _build_dlp(weights: WeightSet, options: BuildOptions) -> Model:
    from vggcli.dlp.adapter import build_dlp_network  # numpy emulator: loaded only when chosen

    if options.pooling != "max":
        raise UsageError("the dlp backend pools by maximum only (pycnml's pooling layer)")
    return build_dlp_network(weights, options.quant_params, options.notify)


DLP = Choice(
    "dlp",
    "int8 on a Cambricon DLP through pycnml (emulated in numpy without one)",
    _build_dlp,
    inference_only=True,
    aliases=("dlp-pycnml",),
)
DEFAULT = DEFAULT_BACKEND


def choices() -> dict[str, Choice]:
    """Every ``--backend`` value: each registered conv/pool backend, then the DLP path."""
    return {**{name: _network_choice(cls) for name, cls in BACKENDS.items()}, DLP.name: DLP}


def choice(name: str) -> Choice:
    """The registry entry for ``name`` (or one of its aliases); UsageError listing the names."""
    known = choices()
    for entry in known.values():
        if name == entry.name or name in entry.aliases:
            return entry
    raise UsageError(f"unknown backend {name!r}; choose one of: {', '.join(known)}")


def build_model(
    name: str,
    weights: WeightSet,
    *,
    need_gradients: bool = False,
    quant_params: Path | None = None,
    notify: Notify | None = None,
    pooling: str = "max",
) -> Model:
    """The model ``--backend name`` runs, on ``weights``. With ``need_gradients`` an
    inference-only backend is refused with a message saying which ones can do it."""
    entry = require(name, need_gradients=need_gradients)
    return entry.build(weights, BuildOptions(quant_params, notify, pooling))


def require(name: str, *, need_gradients: bool = False) -> Choice:
    """The entry of ``name``, checked for what the command needs (before any slow set-up)."""
    entry = choice(name)
    if need_gradients and entry.inference_only:
        able = ", ".join(c.name for c in choices().values() if not c.inference_only)
        raise UsageError(
            f"the {entry.name} backend is inference-only: this needs gradients; use {able}"
        )
    return entry


def layer_backend(name: str, why: str) -> Backend:
    """A fresh instance of the conv/pool primitives of ``--backend name``; UsageError (``why``
    says what the command would do instead) when that backend has none."""
    entry = choice(name)
    if entry.layer_backend is None:
        raise UsageError(f"the {entry.name} backend has no separate conv/pool layers: {why}")
    return entry.layer_backend()


def help_text() -> str:
    """``--backend``'s help: every choice with its one-line description."""
    return "How the network is computed: " + "; ".join(
        f"{c.name}: {c.help}" for c in choices().values()
    )


def where_not_finite(model: Model, x: np.ndarray) -> str:
    """Why ``model``'s output for ``x`` holds NaN or ±Inf: the first layer whose output does
    (every layer is run again, tapped), or the input itself."""
    if not np.isfinite(x).all():
        return "the preprocessed image is not finite (the weights' mean is not a finite number)"
    names = [layer.name for layer in model.layers if model.can_tap(layer.name)]
    with np.errstate(all="ignore"):
        outputs = model.forward(x, names).outputs
    first = next((name for name in names if not np.isfinite(outputs[name]).all()), "the output")
    return (
        f"the network's output is not finite: it first appears at {first} (weights that are "
        "not finite numbers, or values beyond float32's range)"
    )
