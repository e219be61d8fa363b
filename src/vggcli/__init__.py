"""vggcli: the VGG19 network from first principles, with numpy only.

Classification, Gatys-style neural style transfer and honest comparisons of how convolution is
computed (naive loops, im2col + GEMM, an int8 deep-learning-processor path).
"""

from vggcli._blas import choose_openblas_kernel

choose_openblas_kernel()

__version__ = "0.1.0"
