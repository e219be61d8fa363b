"""The lab manual's §3.2 client as the course wrote it, for numpy 1.11 and scipy 0.18.

It reads and resizes the image with ``scipy.misc.imread`` and ``scipy.misc.imresize`` (removed
from scipy in 1.2 and 1.3) and converts with ``np.float`` (removed from numpy in 1.24), as the
manual's Figure 3.10 does; ``vgg dlp run`` provides those names again for this one process:

    vgg dlp run examples/dlp/vgg19_demo_scipy_misc.py WEIGHTS.mat QUANT.npz IMAGE [OUTPUT.npy]

The network is built as in ``vgg19_pycnml.py`` (same folder); the output equals
``vgg classify --backend dlp --quant-params QUANT.npz`` on the same weights.
"""

import numpy as np
import scipy.misc
import vgg19_pycnml


class VGG19(vgg19_pycnml.VGG19):
    def load_image(self, image_dir):
        print("Loading and preprocessing image from " + image_dir)
        input_image = scipy.misc.imread(image_dir)
        input_image = scipy.misc.imresize(input_image, [224, 224, 3])
        input_image = np.array(input_image).astype(np.float32)
        input_image -= self.image_mean.astype(np.float32)
        input_image = np.reshape(input_image, [1] + list(input_image.shape))
        self.input_image = np.transpose(input_image, [0, 3, 1, 2])

    def input_vector(self):
        return self.input_image.flatten().astype(np.float)


if __name__ == "__main__":
    vgg19_pycnml.main(VGG19)
