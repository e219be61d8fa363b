"""The VGG19 architecture as data (lab manual table 3.1), with shapes and costs per layer.

The network is a tuple of :class:`Layer` records in execution order. Convolutions are 3x3, pad 1,
stride 1; every stage ends with 2x2/stride-2 max pooling; ``flatten`` turns pool5 (NCHW) into
MatConvNet's H,W,C order before fc6. Channel widths are parameters so that tests and teachers can
build small networks of the same topology; :data:`VGG19_CHANNELS` and :data:`VGG19_FC` are the
real ones.

Shapes are NCHW tuples ``(N, C, H, W)`` for feature maps and ``(N, F)`` after flatten.
"""

from __future__ import annotations

from dataclasses import dataclass

from vggcli.errors import UsageError

STAGE_CONVS = (2, 2, 4, 4, 4)
VGG19_CHANNELS = (64, 128, 256, 512, 512)
VGG19_FC = (4096, 4096, 1000)
CLASSIFIER_INPUT = 224  # fc6 expects pool5 to be 7x7, i.e. a 224x224 input
MIN_INPUT = 32  # five 2x2 poolings need at least 32 pixels to leave pool5 non-empty


@dataclass(frozen=True)
class Layer:
    """One layer. ``kind`` is conv, relu, pool, flatten, fc or softmax.

    conv: weights [cin, kernel, kernel, cout], bias [cout]. fc: weights [cin, cout], bias [cout].
    pool: max pooling with a ``kernel`` x ``kernel`` window and ``stride``.
    """

    name: str
    kind: str
    cin: int = 0
    cout: int = 0
    kernel: int = 0
    stride: int = 1
    pad: int = 0

    @property
    def has_params(self) -> bool:
        return self.kind in ("conv", "fc")


def vgg19_layers(
    channels: tuple[int, ...] = VGG19_CHANNELS,
    fc: tuple[int, ...] | None = VGG19_FC,
    in_channels: int = 3,
) -> tuple[Layer, ...]:
    """The layer list: conv1_1 … pool5, then (when ``fc`` is given) flatten, fc6 … softmax."""
    if len(channels) != len(STAGE_CONVS):
        raise ValueError(f"VGG19 has {len(STAGE_CONVS)} stages, got {len(channels)} widths")
    layers: list[Layer] = []
    cin = in_channels
    for stage, (n_convs, cout) in enumerate(zip(STAGE_CONVS, channels, strict=True), start=1):
        for i in range(1, n_convs + 1):
            layers.append(Layer(f"conv{stage}_{i}", "conv", cin, cout, kernel=3, stride=1, pad=1))
            layers.append(Layer(f"relu{stage}_{i}", "relu"))
            cin = cout
        layers.append(Layer(f"pool{stage}", "pool", kernel=2, stride=2))
    if fc is None:
        return tuple(layers)
    if len(fc) != 3:
        raise ValueError(f"VGG19 has 3 fully connected layers, got {len(fc)} widths")
    pool5_hw = CLASSIFIER_INPUT // 32
    layers.append(Layer("flatten", "flatten"))
    fin = cin * pool5_hw * pool5_hw
    for i, fout in enumerate(fc, start=6):
        layers.append(Layer(f"fc{i}", "fc", fin, fout))
        if i < 8:
            layers.append(Layer(f"relu{i}", "relu"))
        fin = fout
    layers.append(Layer("softmax", "softmax"))
    return tuple(layers)


LAYER_NAMES = tuple(layer.name for layer in vgg19_layers())
CONV_PART_NAMES = LAYER_NAMES[: LAYER_NAMES.index("pool5") + 1]


def conv_output_size(size: int, kernel: int, stride: int, pad: int) -> int:
    """floor((size + 2·pad − kernel) / stride) + 1 (manual eq. 3.4)."""
    return (size + 2 * pad - kernel) // stride + 1


def output_shape(layer: Layer, in_shape: tuple[int, ...]) -> tuple[int, ...]:
    """The output shape of ``layer`` for an input of ``in_shape``."""
    if layer.kind in ("conv", "pool"):
        n, c, h, w = in_shape
        cout = layer.cout if layer.kind == "conv" else c
        return (
            n,
            cout,
            conv_output_size(h, layer.kernel, layer.stride, layer.pad),
            conv_output_size(w, layer.kernel, layer.stride, layer.pad),
        )
    if layer.kind == "flatten":
        n, c, h, w = in_shape
        return (n, c * h * w)
    if layer.kind == "fc":
        return (in_shape[0], layer.cout)
    return tuple(in_shape)


@dataclass(frozen=True)
class LayerCost:
    """Static cost of one layer for one input shape.

    ``mults``/``adds`` count the multiplications and additions of the layer's formula (conv:
    Cin·K·K products and as many additions, bias included, per output element; fc likewise;
    softmax: one division per output and 2n−1 additions/subtractions). Comparisons (max pooling,
    ReLU) are counted in neither.
    """

    layer: Layer
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    params: int
    mults: int
    adds: int

    @property
    def flops(self) -> int:
        return self.mults + self.adds

    @property
    def work(self) -> int:
        """Progress units: multiply-accumulates (conv, fc), compared elements (pool), or outputs."""
        if self.layer.kind in ("conv", "fc"):
            return self.mults
        if self.layer.kind == "pool":
            return _numel(self.out_shape) * self.layer.kernel**2
        return _numel(self.out_shape)


def _numel(shape: tuple[int, ...]) -> int:
    total = 1
    for d in shape:
        total *= d
    return total


def layer_cost(layer: Layer, in_shape: tuple[int, ...]) -> LayerCost:
    out = output_shape(layer, in_shape)
    params = mults = adds = 0
    if layer.kind == "conv":
        per_out = layer.cin * layer.kernel * layer.kernel
        params = per_out * layer.cout + layer.cout
        mults = adds = _numel(out) * per_out
    elif layer.kind == "fc":
        params = layer.cin * layer.cout + layer.cout
        mults = adds = out[0] * layer.cin * layer.cout
    elif layer.kind == "softmax":
        mults = _numel(out)
        adds = out[0] * (2 * out[1] - 1)
    return LayerCost(layer, tuple(in_shape), out, params, mults, adds)


def plan(layers: tuple[Layer, ...], in_shape: tuple[int, ...]) -> list[LayerCost]:
    """Shapes and costs of every layer for a network input of ``in_shape`` (N, C, H, W).

    Raises :class:`UsageError` when the input cannot go through ``layers``: wrong rank or
    channel count, too small for the poolings, or not 224x224 when the classifier is included.
    """
    if len(in_shape) != 4:
        raise UsageError(f"the network takes N x C x H x W input, got shape {tuple(in_shape)}")
    n, c, h, w = in_shape
    if n < 1:
        raise UsageError("the batch is empty")
    if c != layers[0].cin:
        raise UsageError(f"the network takes {layers[0].cin}-channel input, got {c} channels")
    costs = []
    shape = tuple(in_shape)
    for layer in layers:
        if layer.kind == "flatten" and shape[2:] != (CLASSIFIER_INPUT // 32,) * 2:
            raise UsageError(
                f"the classifier (fc6-fc8) needs a {CLASSIFIER_INPUT}x{CLASSIFIER_INPUT} input "
                f"(pool5 must be 7x7), got {h}x{w}"
            )
        cost = layer_cost(layer, shape)
        if min(cost.out_shape) < 1:
            raise UsageError(
                f"input {h}x{w} is too small: {layer.name} would be empty "
                f"(VGG19's five 2x2 poolings need at least {MIN_INPUT}x{MIN_INPUT})"
            )
        costs.append(cost)
        shape = cost.out_shape
    return costs
