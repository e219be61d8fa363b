"""vggcli: the VGG19 network from first principles, with numpy only.

Classification, Gatys-style neural style transfer and honest comparisons of how convolution is
computed (naive loops, im2col + GEMM, an int8 deep-learning-processor path).

The public Python API, importable from here::

    from vggcli import build_model, resolve_weights
    weights = resolve_weights("random", need_classifier=True)  # or "matconvnet", a .mat
    model = build_model("img2col", weights)          # any --backend name
    probs = model.forward(x, ("softmax",)).outputs["softmax"]   # x [1, 3, 224, 224]
"""

from vggcli.runtime.blas import choose_openblas_kernel

choose_openblas_kernel()  # before numpy is first imported


import importlib  # noqa: E402

from vggcli._version import __version__ as __version__  # noqa: E402

# The public API, imported when first used: `import vggcli` (and the `vgg` command's start)
# stays cheap until a name is needed, so Ctrl-C during start-up can be answered cleanly.
_API = {
    "BACKENDS": "vggcli.engine.backends",
    "Backend": "vggcli.engine.backends",
    "Classifier": "vggcli.classify",
    "Model": "vggcli.models",
    "Network": "vggcli.engine.network",
    "OPTIMIZERS": "vggcli.style.optim",
    "Objective": "vggcli.style.objective",
    "Optimizer": "vggcli.style.optim",
    "RunState": "vggcli.style.run",
    "StyleOptions": "vggcli.style.objective",
    "StyleTransfer": "vggcli.style.run",
    "VggError": "vggcli.errors",
    "WeightSet": "vggcli.engine.weightset",
    "build_model": "vggcli.models",
    "choices": "vggcli.models",
    "resolve_weights": "vggcli.weights.resolve",
}
__all__ = sorted([*_API, "__version__"])


def __getattr__(name: str):
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'vggcli' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
