#!/usr/bin/env python3
"""Writes tests/quant/data/quant_net.onnx: a small CNN (Conv-Relu-MaxPool-Conv(depthwise)-Relu-
Flatten-Gemm-Relu-Gemm) whose weights dominate its size, for the end-to-end quantization test
(plan size, SQNR). Deterministic; run with Debian's python3-torch: python3 make_fixtures.py"""
import os

import torch

torch.manual_seed(0)


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 16, 3, padding=1)
        self.dw = torch.nn.Conv2d(16, 16, 3, padding=1, groups=16)
        self.fc1 = torch.nn.Linear(16 * 4 * 4, 256)
        self.fc2 = torch.nn.Linear(256, 10)

    def forward(self, x):
        x = torch.max_pool2d(torch.relu(self.conv(x)), 2)
        x = torch.relu(self.dw(x)) + x
        x = torch.flatten(x, 1)
        return self.fc2(torch.relu(self.fc1(x)))


out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "quant_net.onnx")
torch.onnx.export(Net().eval(), torch.randn(1, 3, 8, 8), out, input_names=["image"], output_names=["logits"],
                  dynamic_axes={"image": {0: "batch"}}, opset_version=13)
print(out, os.path.getsize(out))

# Calibration sets for the CLI tests of tests/data/small_cnn.onnx (input image [N, 3, 17, 15]):
# an .npy with a leading sample axis and a compressed .npz keyed by the input name.
import numpy as np  # noqa: E402

rng = np.random.default_rng(0)
data = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
np.save(os.path.join(data, "small_cnn_calib.npy"), rng.standard_normal((16, 3, 17, 15)).astype(np.float32))
np.savez_compressed(os.path.join(data, "small_cnn_calib.npz"), image=rng.standard_normal((8, 3, 17, 15)).astype(np.float32))
