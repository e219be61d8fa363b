"""VGG19 on a Cambricon DLP through pycnml, written as the lab manual's §3.2 client is.

Run it where pycnml is installed, or anywhere with vggcli's emulator:

    vgg dlp run examples/dlp/vgg19_pycnml.py WEIGHTS.mat QUANT.npz IMAGE [OUTPUT.npy]

WEIGHTS.mat: MatConvNet's imagenet-vgg-verydeep-19.mat in the beta16 layout (the manual's);
QUANT.npz: the course's int8 parameters (`vgg calibrate … -o QUANT.npz` writes one). The
layer widths are read from the file, so a narrow test network in the same layout works too.
Prints the top-5 classes and the time of net.forward(); OUTPUT.npy receives the softmax.
"""

import os
import sys
import time

import numpy as np
import pycnml
import scipy.io
from PIL import Image

STAGES = (2, 2, 4, 4, 4)


class VGG19:
    def __init__(self):
        self.net = pycnml.CnmlNet(16)
        self.input_quant_params = []
        self.filter_quant_params = []

    def build_model(self, param_path, quant_param_path):
        self.param_path = param_path
        params = np.load(quant_param_path)
        input_params, filter_params = params["input"], params["filter"]
        for i in range(0, len(input_params), 2):
            self.input_quant_params.append(
                pycnml.QuantParam(int(input_params[i]), float(input_params[i + 1]))
            )
        for i in range(0, len(filter_params), 2):
            self.filter_quant_params.append(
                pycnml.QuantParam(int(filter_params[i]), float(filter_params[i + 1]))
            )
        self.mat = scipy.io.loadmat(param_path)
        layers = self.mat["layers"][0]
        self.params = {}
        for layer in layers:
            layer = layer[0][0]
            if layer["type"][0] == "conv":
                weight, bias = layer["weights"][0]
                self.params[str(layer["name"][0])] = (weight, bias)

        self.net.setInputShape(1, 3, 224, 224)
        count = 0
        for stage, convs in enumerate(STAGES, start=1):
            for i in range(1, convs + 1):
                name = "conv%d_%d" % (stage, i)
                out_channels = self.params[name][0].shape[3]
                self.net.createConvLayer(
                    name, out_channels, 3, 1, 1, 1, self.input_quant_params[count]
                )
                count += 1
                self.net.createReLuLayer("relu%d_%d" % (stage, i))
            self.net.createPoolingLayer("pool%d" % stage, 2, 2)
        pool5_channels = self.params["conv5_4"][0].shape[3]
        self.net.createFlattenLayer("flatten", pycnml.IntVector([1, 7 * 7 * pool5_channels, 1, 1]))
        for i, name in enumerate(("fc6", "fc7", "fc8")):
            self.net.createMlpLayer(
                name, self.params[name][0].shape[3], self.input_quant_params[count]
            )
            count += 1
            if i < 2:
                self.net.createReLuLayer("relu%d" % (6 + i))
        self.net.createSoftmaxLayer("prob", 1)

    def load_model(self):
        normalization = self.mat["normalization"][0][0]
        # the mean colour, summed in float64 (a float32 sum over 224x224 pixels drifts by 0.05)
        average = normalization["averageImage"].astype(np.float64)
        self.image_mean = np.mean(average.reshape(-1, 3), axis=0)
        count = 0
        for idx in range(self.net.size()):
            if self.net.needToBeQuantized(idx):
                weight, bias = self.params[self.net.getLayerName(idx)]
                if self.net.getLayerName(idx).startswith("conv"):
                    weight = np.transpose(weight, [3, 2, 0, 1])  # [Cout, Cin, H, W]
                else:
                    weight = np.transpose(weight, [3, 0, 1, 2])  # [out, h, w, c]
                self.net.loadParams(
                    idx,
                    weight.flatten().astype(np.float64),
                    bias.reshape(-1).astype(np.float64),
                    self.filter_quant_params[count],
                )
                count += 1

    def load_image(self, image_path):
        image = Image.open(image_path).convert("RGB").resize((224, 224), Image.BILINEAR)
        image = np.asarray(image, dtype=np.float32) - self.image_mean.astype(np.float32)
        self.input_image = np.transpose(image, [2, 0, 1])[np.newaxis]

    def input_vector(self):
        return self.input_image.flatten().astype(np.float64)

    def forward(self):
        self.net.setInputData(self.input_vector())
        start = time.time()
        self.net.forward()
        print("inference time: %f s" % (time.time() - start))
        return self.net.getOutputData()


def main(network=VGG19):
    if len(sys.argv) not in (4, 5):
        print(__doc__.strip().splitlines()[4].strip(), file=sys.stderr)
        sys.exit(2)
    for path in sys.argv[1:4]:
        if not os.path.isfile(path):
            print(
                "no such file: %s (see docs/dlp.md for the files this client needs)" % path,
                file=sys.stderr,
            )
            sys.exit(2)
    vgg = network()
    vgg.build_model(sys.argv[1], sys.argv[2])
    vgg.load_model()
    vgg.load_image(sys.argv[3])
    prob = np.array(vgg.forward(), dtype=np.float32)
    classes = vgg.mat["classes"][0][0]["description"][0]
    for i in np.argsort(-prob)[:5]:
        print("%4d %.6f %s" % (i, prob[i], classes[i][0]))
    if len(sys.argv) == 5:
        np.save(sys.argv[4], prob)


if __name__ == "__main__":
    main()
