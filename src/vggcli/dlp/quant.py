"""Int8 quantisation as the Cambricon toolchain does it, and the course's parameter file.

A tensor is quantised per tensor, symmetrically (offset 0), with a pair (position, scale):

    q = clamp(round_half_away_from_zero(x · scale / 2^position), −128, 127)
    x ≈ q · 2^position / scale

(Cambricon's host reference, mlu-ops ``castFloat32ToFixed`` / ``castFixedToFloat32``.) The pair
comes from the largest magnitude seen, absmax ("common" mode of pycnml's
``get_quantized_position_scale.cpp``): position = log2(absmax / 127), plus 1 if positive,
truncated to an integer and clamped to [−32, 32]; scale = 127 · 2^position / absmax; absmax = 0
gives (0, 1). Then scale / 2^position = 127 / absmax: the largest value maps to 127.

The course's ``vgg19_quant_param_new.npz`` has two float64 arrays, ``input`` and ``filter``, of
19 interleaved (position, scale) pairs: conv1_1 … conv5_4, fc6, fc7, fc8.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vggcli.errors import UNREADABLE, UsageError, read_failure
from vggcli.storage import npz
from vggcli.storage.atomic import atomic_write

QMIN, QMAX = -128, 127
POSITION_LIMIT = 64  # beyond, 2^position over- or underflows what float32 activations need


@dataclass(frozen=True)
class QuantPair:
    """(position, scale) of one tensor: x·scale/2^position is rounded to an int8."""

    position: int
    scale: float

    @property
    def factor(self) -> float:
        """The multiplier from real values to int8 steps: scale / 2^position."""
        return self.scale / 2.0**self.position

    @staticmethod
    def for_absmax(absmax: float) -> QuantPair:
        """The "common" calibration formula (see the module docstring)."""
        if not absmax > 0:
            return QuantPair(0, 1.0)
        position = math.log2(absmax / 127)
        if position > 0:
            position += 1
        position = max(-32, min(32, int(position)))  # int() truncates toward zero
        return QuantPair(position, 127 * 2.0**position / absmax)


def round_half_away(v: np.ndarray) -> np.ndarray:
    """Round to the nearest integer, ties away from zero (numpy's round goes to even)."""
    return np.copysign(np.floor(np.abs(v) + 0.5), v)


def quantize(x: np.ndarray, pair: QuantPair) -> np.ndarray:
    """int8 values (as float64 integers) of x; the product is exact in float64."""
    v = np.asarray(x, dtype=np.float64) * pair.factor
    return np.clip(round_half_away(v), QMIN, QMAX)


def dequantize(q: np.ndarray, pair: QuantPair) -> np.ndarray:
    return np.asarray(q, dtype=np.float64) * (2.0**pair.position / pair.scale)


@dataclass(frozen=True)
class QuantParams:
    """One (position, scale) pair per conv/fc layer for its input and for its filter."""

    layers: tuple[str, ...]
    inputs: tuple[QuantPair, ...]
    filters: tuple[QuantPair, ...]

    def __post_init__(self) -> None:
        if not len(self.layers) == len(self.inputs) == len(self.filters):
            raise ValueError("one input and one filter pair per layer")

    def input(self, layer: str) -> QuantPair:
        return self.inputs[self.layers.index(layer)]

    def filter(self, layer: str) -> QuantPair:
        return self.filters[self.layers.index(layer)]

    def save(self, path: Path) -> Path:
        """The course's format: ``input`` and ``filter``, float64 [p0, s0, p1, s1, …]."""
        arrays = {
            "input": np.array([v for p in self.inputs for v in (p.position, p.scale)], np.float64),
            "filter": np.array(
                [v for p in self.filters for v in (p.position, p.scale)], np.float64
            ),
        }
        return atomic_write(path, lambda f: np.savez(f, **arrays))

    @staticmethod
    def load(path: Path, layers: tuple[str, ...]) -> QuantParams:
        """Read the course's format for ``layers`` (conv1_1 … fc8); UsageError if it is not."""
        not_params = f"{path} is not a quantisation parameter file"
        try:
            data = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            raise UsageError(f"quantisation parameters not found: {path}") from None
        except UNREADABLE as e:
            raise UsageError(f"{not_params} ({read_failure(e)})") from None
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise UsageError(f"{not_params} (a single array; the course's .npz has two)")
        try:
            with data:
                inputs, filters = npz.array(data, "input"), npz.array(data, "filter")
        except KeyError:
            raise UsageError(f"{not_params} (no 'input' and 'filter' arrays)") from None
        except UNREADABLE as e:
            raise UsageError(f"{not_params} ({read_failure(e)})") from None
        expected = (2 * len(layers),)
        for name, a in (("input", inputs), ("filter", filters)):
            if a.shape != expected:
                raise UsageError(
                    f"{path}: {name!r} is {list(a.shape)}; the course's format is "
                    f"[{expected[0]}]: a (position, scale) pair for each of the "
                    f"{len(layers)} conv/fc layers, one after the other"
                )
        for name, a in (("input", inputs), ("filter", filters)):
            if a.dtype.kind not in "iuf":
                raise UsageError(f"{not_params} ({name!r} holds {a.dtype} values, not numbers)")
            positions, scales = a[0::2].astype(np.float64), a[1::2].astype(np.float64)
            bad = ~np.isfinite(positions) | (positions != np.round(positions))
            bad |= np.abs(np.nan_to_num(positions)) > POSITION_LIMIT
            bad |= ~np.isfinite(scales) | (np.nan_to_num(scales) <= 0)
            if bad.any():
                k = int(np.argmax(bad))
                raise UsageError(
                    f"{path}: the {name} pair of {layers[k]} is ({positions[k]:g}, "
                    f"{scales[k]:g}); a position is an integer within ±{POSITION_LIMIT} and "
                    "a scale a positive number"
                )

        def pairs(a):
            return tuple(QuantPair(int(a[i]), float(a[i + 1])) for i in range(0, a.size, 2))

        return QuantParams(tuple(layers), pairs(inputs), pairs(filters))
