"""Calibration: int8 (position, scale) pairs for every conv and fc layer of a network.

The float network (img2col) runs over calibration images; each conv/fc layer's input absmax is
the running maximum of |x| over them, each filter's absmax that of its weights; the pairs
follow :meth:`QuantPair.for_absmax`. The result is written in the course's format.

Without ``--quant-params`` the DLP path calibrates once on the images shipped in the package
(the repository's example images, downscaled) and caches the result per weights file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from vggcli.dlp.quant import QuantPair, QuantParams
from vggcli.engine.backends.img2col import Img2colBackend
from vggcli.engine.network import Network
from vggcli.engine.vgg19 import CLASSIFIER_INPUT
from vggcli.engine.weightset import WeightSet
from vggcli.errors import ImageError, OutputError, UsageError
from vggcli.images import check_writable, load_image, resize, to_input
from vggcli.storage.paths import cache_dir
from vggcli.weights.resolve import resolve_weights


@dataclass(frozen=True)
class Calibration:
    params: QuantParams
    input_absmax: tuple[float, ...]
    filter_absmax: tuple[float, ...]
    images: int

    def rows(self) -> list[dict]:
        """One row per quantised layer: its input and filter absmax, position and scale."""
        p = self.params
        return [
            {
                "layer": name,
                "input_absmax": ia,
                "input_position": ip.position,
                "input_scale": ip.scale,
                "filter_absmax": fa,
                "filter_position": fp.position,
                "filter_scale": fp.scale,
            }
            for name, ia, ip, fa, fp in zip(
                p.layers, self.input_absmax, p.inputs, self.filter_absmax, p.filters, strict=True
            )
        ]


def packaged_images() -> list[Path]:
    folder = resources.files("vggcli").joinpath("data/calibration")
    return sorted(Path(str(p)) for p in folder.iterdir() if p.name.endswith(".jpg"))


def quantized_layers(weights: WeightSet) -> tuple[str, ...]:
    return tuple(layer.name for layer in weights.layers if layer.kind in ("conv", "fc"))


def calibrate(
    weights: WeightSet,
    images: Sequence[Path],
    resize_mode: str = "stretch",
    on_image: Callable[[Path], None] | None = None,
) -> Calibration:
    """Input and filter pairs of every conv/fc layer from ``images`` (224x224, float32)."""
    network = Network(weights, Img2colBackend())
    names = [layer.name for layer in network.layers]
    layers = quantized_layers(weights)
    feeding = {
        name: names[names.index(name) - 1] if names.index(name) else None for name in layers
    }  # the layer whose output is each one's input
    taps = sorted({f for f in feeding.values() if f}, key=names.index)
    input_absmax = dict.fromkeys(layers, 0.0)
    size = (CLASSIFIER_INPUT, CLASSIFIER_INPUT)
    for path in images:
        x = to_input(resize(load_image(path), size, resize_mode), weights.preprocessing)
        outputs = network.forward(x, taps).outputs
        for name, source in feeding.items():
            value = x if source is None else outputs[source]
            input_absmax[name] = max(input_absmax[name], float(np.abs(value).max()))
        if on_image:
            on_image(path)
    filter_absmax = {
        name: float(np.abs(np.asarray(weights.params[name][0])).max()) for name in layers
    }
    params = QuantParams(
        layers,
        tuple(QuantPair.for_absmax(input_absmax[name]) for name in layers),
        tuple(QuantPair.for_absmax(filter_absmax[name]) for name in layers),
    )
    return Calibration(
        params,
        tuple(input_absmax[n] for n in layers),
        tuple(filter_absmax[n] for n in layers),
        len(images),
    )


def run_calibration(
    images: Sequence[Path],
    output: Path,
    weights_spec: str | None,
    resize_mode: str = "stretch",
    on_image: Callable[[Path], None] | None = None,
    notify: Callable[[str], None] | None = None,
) -> Calibration:
    """``vgg calibrate``: calibrate on ``images`` and write the pairs to ``output`` (.npz)."""
    for path in images:
        if not Path(path).exists():
            raise ImageError(f"image not found: {path}")
    if Path(output).suffix != ".npz":
        raise UsageError(f"the output is an .npz file, got {output}")
    check_writable(output)
    weights = resolve_weights(
        weights_spec, need_classifier=True, purpose="calibration", notify=notify
    )
    result = calibrate(weights, list(images), resize_mode, on_image=on_image)
    result.params.save(output)
    return result


def cached_params_path(weights: WeightSet) -> Path:
    """Where the default parameters of these weights are cached."""
    identity = weights.sha256 or weights.path or f"{weights.description} {weights.extra}"
    key = hashlib.sha256(identity.encode()).hexdigest()[:16]
    return cache_dir() / "dlp" / f"quant-{weights.source}-{key}.npz"


def default_params(weights: WeightSet, notify: Callable[[str], None] | None = None):
    """The cached default parameters, calibrated on the packaged images on first use."""
    path = cached_params_path(weights)
    layers = quantized_layers(weights)
    if path.is_file():
        return QuantParams.load(path, layers), path
    images = packaged_images()
    if notify:
        notify(
            f"no --quant-params: calibrating int8 parameters once on {len(images)} example "
            f"images, cached in {path}"
        )
    done = []

    def on_image(path: Path) -> None:
        done.append(path)
        if notify:
            notify(f"  calibration image {len(done)}/{len(images)}: {path.name}")

    params = calibrate(weights, images, on_image=on_image).params
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        params.save(path)
    except (OSError, OutputError) as e:
        if notify:
            reason = getattr(e, "strerror", None) or e
            notify(
                f"cannot cache the parameters in {path.parent} ({reason}): "
                "calibrated again next time"
            )
        return params, "calibrated now (not cached)"
    return params, path
