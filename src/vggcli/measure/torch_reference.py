"""PyTorch as an *external reference* for ``vgg bench`` and ``vgg check``; optional.

Nothing in the engine imports this module: it is loaded only when a user asks for ``torch`` in
``--compare`` (or ``vgg check`` finds torch installed), so torch is never a runtime dependency.
:class:`TorchOps` offers the backend interface for single layers (autograd for backward);
:class:`TorchVGG` runs a whole :class:`~vggcli.engine.weightset.WeightSet` as a torch graph, and
:class:`TorchStyleLoss` the style-transfer objective on it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import numpy as np

from vggcli.engine.backends.base import Backend, ConvCache, PoolCache
from vggcli.engine.weightset import WeightSet
from vggcli.errors import UsageError
from vggcli.runtime import threads

TORCH = "torch"


def load_torch():
    """The torch module, or UsageError saying it is optional and how to get it."""
    try:
        import torch
    except ImportError:
        raise UsageError(
            "torch is not installed; it is only an optional reference here "
            "(pip install torch, or `pip install vggcli[test]`)"
        ) from None
    torch.set_num_threads(threads.chosen())  # compared on the same number of threads
    return torch


class TorchOps(Backend):
    """Convolution and max pooling computed by torch.nn.functional, gradients by autograd."""

    name = TORCH
    description = "PyTorch (external reference, not an engine backend)"

    def __init__(self) -> None:
        self.torch = load_torch()

    def _tensor(self, a, grad=False):
        t = self.torch.from_numpy(np.array(a))  # a copy: torch wants writable arrays
        return t.requires_grad_(grad)

    def conv2d_forward(self, x, w, b, stride=1, pad=0, tick=None):
        xt, bt = self._tensor(x, True), self._tensor(b, True)
        wt = self._tensor(w, True)  # [Cin, K, K, Cout]
        yt = self.torch.nn.functional.conv2d(xt, wt.permute(3, 0, 1, 2), bt, stride, pad)
        return yt.detach().numpy(), ConvCache((xt, wt, bt, yt), w, stride, pad)

    def conv2d_backward(self, dy, cache: ConvCache, *, param_grads=True, tick=None):
        xt, wt, bt, yt = cache.x
        inputs = [xt, wt, bt] if param_grads else [xt]
        grads = self.torch.autograd.grad(yt, inputs, self._tensor(dy), retain_graph=True)
        if not param_grads:
            return grads[0].numpy(), None, None
        return tuple(g.numpy() for g in grads)

    def maxpool2d_forward(self, x, kernel=2, stride=2, tick=None):
        xt = self._tensor(x, True)
        yt = self.torch.nn.functional.max_pool2d(xt, kernel, stride)
        return yt.detach().numpy(), PoolCache((xt, yt), None, kernel, stride)

    def maxpool2d_backward(self, dy, cache: PoolCache, tick=None):
        xt, yt = cache.x
        (dx,) = self.torch.autograd.grad(yt, [xt], self._tensor(dy), retain_graph=True)
        return dx.numpy()


class TorchVGG:
    """The layers of ``weights`` as a torch graph: conv [Cout, Cin, K, K], fc [out, in],
    flatten in MatConvNet's H, W, C order."""

    def __init__(self, weights: WeightSet) -> None:
        self.torch = load_torch()
        self.layers = weights.layers
        t = self.torch
        self.params = {}
        for layer in self.layers:
            if layer.kind in ("conv", "fc"):
                w, b = weights.params[layer.name]
                w = np.asarray(w).transpose(3, 0, 1, 2) if layer.kind == "conv" else np.asarray(w).T
                self.params[layer.name] = (
                    t.from_numpy(np.ascontiguousarray(w)),
                    t.from_numpy(np.array(b)),
                )

    def outputs(self, h, taps: Iterable[str]):
        """Run the torch tensor ``h`` up to the deepest tap: {name: tensor}."""
        F = self.torch.nn.functional
        taps = set(taps)
        last = max(i for i, layer in enumerate(self.layers) if layer.name in taps)
        out = {}
        for layer in self.layers[: last + 1]:
            if layer.kind == "conv":
                h = F.conv2d(h, *self.params[layer.name], layer.stride, layer.pad)
            elif layer.kind == "relu":
                h = F.relu(h)
            elif layer.kind == "pool":
                h = F.max_pool2d(h, layer.kernel, layer.stride)
            elif layer.kind == "flatten":
                h = h.permute(0, 2, 3, 1).reshape(h.shape[0], -1)
            elif layer.kind == "fc":
                h = F.linear(h, *self.params[layer.name])
            elif layer.kind == "softmax":
                h = self.torch.softmax(h, dim=1)
            if layer.name in taps:
                out[layer.name] = h
        return out

    def forward(self, x: np.ndarray, taps: Iterable[str]) -> dict[str, np.ndarray]:
        with self.torch.no_grad():
            out = self.outputs(self.torch.from_numpy(np.ascontiguousarray(x)), taps)
        return {name: t.numpy() for name, t in out.items()}


class TorchStyleLoss:
    """The total loss of a :class:`~vggcli.style.objective.Objective` (same layers, weights and
    targets, the manual's formulas) as a torch function of the image tensor, for autograd."""

    def __init__(self, weights: WeightSet, objective) -> None:
        self.vgg = TorchVGG(weights)
        self.torch = self.vgg.torch
        self.objective = objective
        from_numpy = self.torch.from_numpy
        self.content = {k: from_numpy(v) for k, v in objective.content_targets.items()}
        self.grams = {k: from_numpy(v) for k, v in objective.style_targets.items()}

    def __call__(self, xt):
        """xt [1, 3, H, W] → the scalar α·content + β·style (tv excluded)."""
        o = self.objective.options
        out = self.vgg.outputs(xt, self.objective.taps)
        content = sum(((out[k] - t) ** 2).sum() / (2 * t.numel()) for k, t in self.content.items())
        style = 0
        for name, weight in o.style_layers:
            n, c, h, w = out[name].shape
            flat = out[name].reshape(n, c, h * w)
            gram = flat @ flat.transpose(1, 2)
            style = style + weight * ((gram - self.grams[name]) ** 2).sum() / (
                4 * n * c**2 * (h * w) ** 2
            )
        return o.alpha * content / len(self.content) + o.beta * style / len(o.style_layers)


def torch_style_step(weights: WeightSet, objective, x: np.ndarray):
    """One style step in torch for the benchmark harness: TorchVGG to the loss layers, the
    manual's losses, autograd. run() → (forward s, backward s, {"total", "dx"})."""
    loss = TorchStyleLoss(weights, objective)

    def run(deadline=None):
        start = time.perf_counter()
        xt = loss.torch.from_numpy(np.array(x)).requires_grad_(True)
        total = loss(xt)
        middle = time.perf_counter()
        total.backward()
        return (
            middle - start,
            time.perf_counter() - middle,
            {"total": np.array(total.item()), "dx": xt.grad.numpy()},
        )

    return run
