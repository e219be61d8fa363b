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


from vggcli._version import __version__  # noqa: E402
from vggcli.classify import Classifier  # noqa: E402
from vggcli.engine.backends import BACKENDS, Backend  # noqa: E402
from vggcli.engine.network import Network  # noqa: E402
from vggcli.engine.weightset import WeightSet  # noqa: E402
from vggcli.errors import VggError  # noqa: E402
from vggcli.models import Model, build_model, choices  # noqa: E402
from vggcli.style.objective import Objective, StyleOptions  # noqa: E402
from vggcli.style.optim import OPTIMIZERS, Optimizer  # noqa: E402
from vggcli.style.run import RunState, StyleTransfer  # noqa: E402
from vggcli.weights.resolve import resolve_weights  # noqa: E402

__all__ = [
    "BACKENDS",
    "OPTIMIZERS",
    "Backend",
    "Classifier",
    "Model",
    "Network",
    "Objective",
    "Optimizer",
    "RunState",
    "StyleOptions",
    "StyleTransfer",
    "VggError",
    "WeightSet",
    "__version__",
    "build_model",
    "choices",
    "resolve_weights",
]
