"""The DLP path (lab manual §3.2): VGG19 in int8 on a Cambricon MLU270 through pycnml, or on
vggcli's numpy emulator of it when pycnml is not installed; and the int8 calibration.
``docs/dlp.md`` describes the API and the quantisation."""

from vggcli.dlp.adapter import DlpNetwork
from vggcli.dlp.quant import QuantPair, QuantParams

__all__ = ["DlpNetwork", "QuantPair", "QuantParams"]
