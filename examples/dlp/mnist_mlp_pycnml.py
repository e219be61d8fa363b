"""A three-layer MLP on a Cambricon DLP through pycnml, in the style of the course's MNIST
client, calibrated with pycnml's QuantTool. Without the MNIST files it runs on synthetic
digits (fixed seed) and a network fitted to them here in float numpy, so it needs nothing else:

    vgg dlp run examples/dlp/mnist_mlp_pycnml.py [SAMPLES]

Prints the int8 predictions' agreement with the float network and the largest probability
difference; exits with status 1 if fewer than 90% of the predictions agree.
"""

import sys

import numpy as np
import pycnml

HIDDEN = (64, 32)
CLASSES = 10


def synthetic_digits(rng, count):
    """28x28 'digits': one blurred bar pattern per class, plus noise."""
    patterns = rng.random((CLASSES, 28, 28)) ** 3 * 255
    labels = rng.integers(0, CLASSES, count)
    images = patterns[labels] + rng.normal(0, 20, (count, 28, 28))
    return np.clip(images, 0, 255).astype(np.float32) / 255.0, labels, patterns


def fit_float_mlp(rng, images, labels):
    """Least-squares layers on random features: a float MLP good enough to classify them."""
    x = images.reshape(len(images), -1)
    w1 = rng.normal(0, 1 / np.sqrt(x.shape[1]), (x.shape[1], HIDDEN[0])).astype(np.float32)
    b1 = np.zeros(HIDDEN[0], np.float32)
    h1 = np.maximum(x @ w1 + b1, 0)
    w2 = rng.normal(0, 1 / np.sqrt(HIDDEN[0]), (HIDDEN[0], HIDDEN[1])).astype(np.float32)
    b2 = np.full(HIDDEN[1], 0.1, np.float32)
    h2 = np.maximum(h1 @ w2 + b2, 0)
    target = np.eye(CLASSES, dtype=np.float32)[labels] * 10
    w3 = np.linalg.lstsq(h2, target, rcond=None)[0].astype(np.float32)
    b3 = np.zeros(CLASSES, np.float32)
    return [(w1, b1), (w2, b2), (w3, b3)]


def float_forward(layers, x):
    h = x.reshape(len(x), -1)
    outputs = [h]
    for i, (w, b) in enumerate(layers):
        h = h @ w + b
        if i < len(layers) - 1:
            h = np.maximum(h, 0)
        outputs.append(h)
    e = np.exp(h - h.max(axis=1, keepdims=True))
    return outputs, e / e.sum(axis=1, keepdims=True)


def main():
    samples = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    rng = np.random.default_rng(0)
    images, labels, _ = synthetic_digits(rng, 200 + samples)
    layers = fit_float_mlp(rng, images[:200], labels[:200])
    test = images[200:]

    # calibration: the largest |value| each layer sees, through pycnml's QuantTool
    tool = pycnml.QuantTool()
    calibration, _ = float_forward(layers, images[:200])
    input_qps = [
        tool.getQuantParam(pycnml.FloatVector(a.flatten()), "fc%d" % (i + 1))
        for i, a in enumerate(calibration[:3])
    ]
    filter_qps = [
        tool.getQuantParam(pycnml.FloatVector(w.flatten()), "fc%d_w" % (i + 1))
        for i, (w, _) in enumerate(layers)
    ]

    net = pycnml.CnmlNet(16)
    net.setInputShape(1, 1, 28, 28)
    for i, (w, _) in enumerate(layers):
        net.createMlpLayer("fc%d" % (i + 1), w.shape[1], input_qps[i])
        if i < len(layers) - 1:
            net.createReLuLayer("relu%d" % (i + 1))
    net.createSoftmaxLayer("softmax", 1)
    count = 0
    for idx in range(net.size()):
        if net.needToBeQuantized(idx):
            w, b = layers[count]
            net.loadParams(
                idx, pycnml.DoubleVector(w.T.flatten()), pycnml.DoubleVector(b), filter_qps[count]
            )
            count += 1

    _, float_prob = float_forward(layers, test)
    agree, worst = 0, 0.0
    for k in range(samples):
        net.setInputData(pycnml.FloatVector(test[k].flatten()))
        net.forward()
        prob = np.array(net.getOutputData())
        agree += int(prob.argmax() == float_prob[k].argmax())
        worst = max(worst, float(np.abs(prob - float_prob[k]).max()))
    print("int8 agrees with float on %d/%d samples; largest |dp| %.4f" % (agree, samples, worst))
    sys.exit(0 if agree >= 0.9 * samples else 1)


if __name__ == "__main__":
    main()
