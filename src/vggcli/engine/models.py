"""What runs a network for a ``--backend`` name: a :class:`~vggcli.engine.network.Network` over one of
the conv/pool backends, or the DLP path, which builds the whole network on its device."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from vggcli.engine.backends import BACKENDS, Backend, get_backend
from vggcli.engine.network import Network
from vggcli.errors import UsageError
from vggcli.weights.weightset import WeightSet

DLP_NAMES = ("dlp", "dlp-pycnml")


def backend_names() -> list[str]:
    return [*BACKENDS, *DLP_NAMES]


def check_name(name: str) -> str:
    """The canonical name (dlp-pycnml → dlp); UsageError listing the known ones."""
    if name in DLP_NAMES:
        return "dlp"
    if name not in BACKENDS:
        raise UsageError(f"unknown backend {name!r}; choose one of: {', '.join(backend_names())}")
    return name


def gradient_backend(name: str) -> Backend:
    """A backend that can also run backward (style transfer, profiles with --backward)."""
    if check_name(name) == "dlp":
        raise UsageError(
            "the dlp backend is inference-only: this needs gradients; use "
            "--backend img2col or loops"
        )
    return get_backend(name)


def build_model(
    name: str,
    weights: WeightSet,
    *,
    quant_params: Path | None = None,
    notify: Callable[[str], None] | None = None,
):
    """The network for ``--backend name``: forward(x, taps), plan(shape, taps), name."""
    if check_name(name) != "dlp":
        if quant_params is not None:
            raise UsageError("--quant-params is for the dlp backend")
        return Network(weights, get_backend(name))
    from vggcli.dlp import DlpNetwork
    from vggcli.dlp.calibrate import default_params, quantized_layers
    from vggcli.dlp.quant import QuantParams

    if not weights.has_classifier:
        raise UsageError(
            "the dlp backend runs the whole classifier and needs the full "
            "MatConvNet weights (run `vgg fetch-weights`)"
        )
    if quant_params is not None:
        quant = QuantParams.load(quant_params, quantized_layers(weights))
        source = str(quant_params)
    else:
        quant, path = default_params(weights, notify)
        source = str(path)
    model = DlpNetwork(weights, quant)
    model.quant_source = source
    return model
