"""Small ONNX fixtures for the runtime and CLI tests (committed; regenerate with
/usr/bin/python3 tests/data/make_fixtures.py). Deterministic: fixed seeds."""
import os
import numpy as np
import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))


class SmallCNN(nn.Module):
    """Conv-BN-ReLU, depthwise conv, pooling, LayerNorm and a classifier: the op mix of the
    vision models in a few kilobytes."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.ln = nn.LayerNorm(8)
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        x = torch.relu(self.bn(self.conv(x)))
        x = nn.functional.hardswish(self.dw(x))
        x = x.mean(dim=(2, 3))
        return self.fc(self.ln(x))


def main():
    torch.manual_seed(0)
    m = SmallCNN().eval()
    with torch.no_grad():
        m.bn.running_mean.uniform_(-0.5, 0.5)
        m.bn.running_var.uniform_(0.5, 1.5)
    x = torch.from_numpy(np.random.default_rng(0).standard_normal((2, 3, 17, 15)).astype(np.float32))
    path = os.path.join(HERE, "small_cnn.onnx")
    torch.onnx.export(m, x, path, input_names=["image"], output_names=["logits"], opset_version=13,
                      dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}})
    with torch.no_grad():
        y = m(x).numpy()
    np.save(os.path.join(HERE, "small_cnn_input.npy"), x.numpy())
    np.save(os.path.join(HERE, "small_cnn_output.npy"), y)
    print("wrote", path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
