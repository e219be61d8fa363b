"""Build files in MatConvNet's exact VGG19 layout, and a PyTorch VGG19 from the same arrays.

The arrays are kept in the *stored* layout (conv [H, W, Cin, Cout], fc as convolutions
[h, w, c, k], biases (K, 1) or (1, K)) so that the oracle below is built from what is in the file,
not from vggcli's own loader. The oracle computes fc6-fc8 as MatConvNet does, as convolutions
over pool5, which checks vggcli's NCHW → NHWC flatten independently.
"""

from __future__ import annotations

import numpy as np
import scipy.io

from vggcli.engine.labels import imagenet_classes
from vggcli.engine.vgg19 import STAGE_CONVS

MEAN = (123.68, 116.779, 103.939)


def random_raw(rng, channels, fc, bias_scale=0.1):
    """name → (W stored [H, W, Cin, Cout], b [Cout]) with He-scaled normal weights."""
    raw = {}
    cin = 3
    for stage, (n, cout) in enumerate(zip(STAGE_CONVS, channels, strict=True), start=1):
        for i in range(1, n + 1):
            w = rng.standard_normal((3, 3, cin, cout)) * np.sqrt(2 / (9 * cin))
            raw[f"conv{stage}_{i}"] = (
                w.astype(np.float32),
                (rng.standard_normal(cout) * bias_scale).astype(np.float32),
            )
            cin = cout
    if fc:
        shapes = [(7, 7, cin, fc[0]), (1, 1, fc[0], fc[1]), (1, 1, fc[1], fc[2])]
        for name, shape in zip(("fc6", "fc7", "fc8"), shapes, strict=True):
            w = rng.standard_normal(shape) * np.sqrt(2 / np.prod(shape[:3]))
            raw[name] = (
                w.astype(np.float32),
                (rng.standard_normal(shape[3]) * bias_scale).astype(np.float32),
            )
    return raw


def _cell(*items):
    cell = np.empty((1, len(items)), dtype=object)
    for i, item in enumerate(items):
        cell[0, i] = item
    return cell


def _conv_struct(name, w, b, fmt):
    weights = _cell(w, b.reshape(-1, 1) if fmt == "current" else b.reshape(1, -1))
    size = np.array([w.shape], dtype=np.float64)
    if fmt == "current":
        return {
            "name": name,
            "type": "conv",
            "weights": weights,
            "size": size,
            "pad": np.zeros((1, 4)) + (1 if name.startswith("conv") else 0),
            "stride": np.ones((1, 2)),
            "precious": 0,
            "dilate": 1.0,
            "opts": np.empty((1, 0), dtype=object),
        }
    return {
        "weights": weights,
        "pad": np.zeros((1, 4)) + (1 if name.startswith("conv") else 0),
        "type": "conv",
        "name": name,
        "stride": np.ones((1, 2)),
    }


def _layer_structs(raw, fmt):
    layers = []
    names = [n for n in raw if n.startswith("conv")]
    for name in names:
        stage, index = name[4:].split("_")
        layers.append(_conv_struct(name, *raw[name], fmt))
        layers.append(
            {"name": f"relu{stage}_{index}", "type": "relu", "leak": 0.0}
            if fmt == "current"
            else {"type": "relu", "name": f"relu{stage}_{index}"}
        )
        if int(index) == STAGE_CONVS[int(stage) - 1]:
            pool = {
                "name": f"pool{stage}",
                "type": "pool",
                "method": "max",
                "pool": np.array([[2.0, 2.0]]),
                "stride": np.array([[2.0, 2.0]]),
                "pad": np.zeros((1, 4)),
            }
            layers.append(pool)
    for i, name in enumerate(("fc6", "fc7", "fc8")):
        if name in raw:
            layers.append(_conv_struct(name, *raw[name], fmt))
            if i < 2:
                layers.append({"name": f"relu{6 + i}", "type": "relu"})
    if "fc8" in raw:
        layers.append({"name": "prob", "type": "softmax"})
    return _cell(*layers)


def write_matconvnet(path, raw, fmt="current", mean=MEAN, with_classes=True, average_shape=None):
    """Write ``raw`` as MatConvNet's current (``meta``) or beta16 layout (v5 .mat)."""
    if fmt == "current":
        average = np.asarray(mean, np.float32).reshape(average_shape or (1, 1, 3))
    else:
        average = np.broadcast_to(np.asarray(mean, np.float32), (224, 224, 3)).copy()
    normalization = {
        "averageImage": average,
        "keepAspect": 1,
        "border": np.array([[32.0, 32.0]]),
        "imageSize": np.array([[224.0, 224.0, 3.0]]),
        "interpolation": "bilinear",
    }
    classes = {
        "name": _cell(*(w for w, _ in imagenet_classes())),
        "description": _cell(*(d for _, d in imagenet_classes())),
    }
    content = {"layers": _layer_structs(raw, fmt)}
    if fmt == "current":
        meta = {
            "inputs": {"name": "input", "size": np.array([[224.0, 224.0, 3.0, 10.0]])},
            "normalization": normalization,
        }
        if with_classes:
            meta["classes"] = classes
        content["meta"] = meta
    else:
        content["normalization"] = normalization
        if with_classes:
            content["classes"] = classes
    scipy.io.savemat(str(path), content, do_compression=False)
    return path


def torch_params(torch, raw, dtype=None, requires_grad=False):
    """The stored-layout arrays of ``raw`` as torch tensors (leaf tensors with gradients)."""
    dtype = dtype or torch.float32
    return {
        name: tuple(
            torch.tensor(np.asarray(a), dtype=dtype, requires_grad=requires_grad) for a in arrays
        )
        for name, arrays in raw.items()
    }


def torch_outputs(torch, params, h, pooling="max"):
    """MatConvNet's VGG19 in PyTorch on the NCHW tensor ``h``: {layer name: tensor}
    (``pooling="avg"``: average pooling instead of max).

    ``params`` come from :func:`torch_params` (stored layouts). Conv weights [H, W, Cin, Cout]
    become torch's [Cout, Cin, H, W]; fc6-fc8 run as convolutions over pool5, as in MatConvNet.
    """
    F = torch.nn.functional
    outputs = {}
    for name in [n for n in params if n.startswith("conv")]:
        w, b = params[name]
        stage, index = name[4:].split("_")
        h = F.conv2d(h, w.permute(3, 2, 0, 1), b, padding=1)
        outputs[name] = h
        h = F.relu(h)
        outputs[f"relu{stage}_{index}"] = h
        if int(index) == STAGE_CONVS[int(stage) - 1]:
            h = F.max_pool2d(h, 2, 2) if pooling == "max" else F.avg_pool2d(h, 2, 2)
            outputs[f"pool{stage}"] = h
    if "fc8" in params and tuple(h.shape[-2:]) == (7, 7):
        for i, name in enumerate(("fc6", "fc7", "fc8")):
            w, b = params[name]
            h = F.conv2d(h, w.permute(3, 2, 0, 1), b)
            outputs[name] = h.flatten(1)
            if i < 2:
                h = F.relu(h)
                outputs[f"relu{6 + i}"] = h.flatten(1)
        outputs["softmax"] = torch.softmax(h.flatten(1), dim=1)
    return outputs


def torch_forward(torch, raw, x):
    """:func:`torch_outputs` on a numpy input with numpy weights, as numpy arrays (float32)."""
    with torch.no_grad():
        outputs = torch_outputs(
            torch, torch_params(torch, raw), torch.as_tensor(np.asarray(x, np.float32))
        )
    return {k: v.numpy() for k, v in outputs.items()}
