#!/usr/bin/python3
"""PyTorch -> ONNX parity fixtures for package onnx (the Go importer).

Regenerate the committed fixtures from the repository root with

    /usr/bin/python3 scripts/onnx_reference.py

(Debian's python3-torch 1.13 / python3-torchvision 0.14, CPU). No weights are
downloaded: every network has its default random initialisation from a fixed
seed, and every BatchNorm gets non-trivial running statistics and affine
parameters before it is put in eval mode. For each network NAME it writes

    onnx/testdata/NAME.onnx   the model, exported by torch.onnx.export (opset 13)
    onnx/testdata/NAME.json   {"input_layout", "input": {shape, data},
                               "logits": {shape, data}}: PyTorch's eval output

Committed networks (all small, < 2 MB together):

    resnet18_small  torchvision's ResNet with BasicBlock [2,2,2,2] (the graph of
                    ResNet-18: 7x7/2 stem, max-pool, 4 stages, avg-pool, fc) at
                    widths 4/8/16/32; exported with TrainingMode.PRESERVE, so BN
                    stays BatchNormalization with torchvision's names
    resnet50_small  Bottleneck [3,4,6,3] (the graph of ResNet-50) at widths
                    4/8/16/32; exported in EVAL mode (BN folded into the Conv)
    keras_style     a channels-last network: (N,H,W,C) input, Transpose nodes
                    around each convolution, per-channel Mul/Add constants on
                    the last axis, depthwise conv, Pad, Concat, LeakyRelu,
                    Sigmoid, Clip, AveragePool, a Keras-order Flatten, MatMul +
                    Add dense layers and Softmax
    ferplus_like    the structure of the ONNX zoo's emotion-ferplus-8: 1x1x64x64
                    input, Sub/Div preprocessing constants, Conv/Relu/MaxPool
                    stages, Reshape to (1,-1) with a constant shape, Gemm and
                    MatMul layers with Dropout, 8 outputs
    dynamic_view    x.view(x.size(0), -1) with a dynamic batch axis: the
                    Shape/Gather/Unsqueeze/Concat -> Reshape pattern

    /usr/bin/python3 scripts/onnx_reference.py --full DIR

exports the full-size torchvision resnet18 and resnet50 (random init, ~45 and
~100 MB) into DIR (a cache, never committed), at 1x3x64x64 (--size 224 for the
ImageNet size) with a dynamic batch axis, with their .json expectations; the Go tests run them when
RESIDUAL_ONNX_FULL=DIR is set.

    /usr/bin/python3 scripts/onnx_reference.py --bench resnet18 [--size 64] [--threads 2]

times the PyTorch model that resnet18.onnx was exported from (same seed and
input size), eval mode under no_grad, at batch 1 and 64, to put next to
`go test -bench ImportedResNet18 ./onnx`.
"""
import argparse
import io
import json
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torchvision.models.resnet import BasicBlock, Bottleneck

OUT = "onnx/testdata"


class SmallResNet(nn.Module):
    """torchvision's ResNet layout with configurable widths, built from its blocks."""

    def __init__(self, block, layers, widths, classes):
        super().__init__()
        self.inplanes = widths[0]
        self.conv1 = nn.Conv2d(3, widths[0], 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make_layer(block, widths[0], layers[0], 1)
        self.layer2 = self._make_layer(block, widths[1], layers[1], 2)
        self.layer3 = self._make_layer(block, widths[2], layers[2], 2)
        self.layer4 = self._make_layer(block, widths[3], layers[3], 2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(widths[3] * block.expansion, classes)

    def _make_layer(self, block, planes, blocks, stride):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride, bias=False),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class KerasStyle(nn.Module):
    """A channels-last network as a Keras export looks: NHWC tensors, every
    convolution wrapped in permutes, per-channel constants on the last axis."""

    def __init__(self, classes=5):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, 1, 1)
        self.dw = nn.Conv2d(8, 8, 3, 2, 1, groups=8)
        self.pw = nn.Conv2d(8, 6, 1)
        self.conv3 = nn.Conv2d(8, 6, 3, 2, 0)
        self.scale = nn.Parameter(torch.rand(8) + 0.5)
        self.shift = nn.Parameter(torch.randn(8) * 0.1)
        self.dense1 = nn.Parameter(torch.randn(4 * 4 * 12, 16) * 0.1)
        self.bias1 = nn.Parameter(torch.randn(16) * 0.1)
        self.dense2 = nn.Parameter(torch.randn(16, classes) * 0.3)
        self.bias2 = nn.Parameter(torch.randn(classes) * 0.1)

    def conv_nhwc(self, conv, x):
        return conv(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)

    def forward(self, x):  # x is (N,16,16,3)
        x = self.conv_nhwc(self.conv1, x)  # (N,16,16,8)
        x = F.leaky_relu(x * self.scale + self.shift, 0.1)
        a = self.conv_nhwc(self.pw, self.conv_nhwc(self.dw, x))  # (N,8,8,6)
        a = torch.clamp(a, -1.0, 1.5)
        b = F.pad(x.permute(0, 3, 1, 2), (0, 1, 0, 1))  # NCHW (N,8,17,17)
        b = self.conv3(b).permute(0, 2, 3, 1)  # (N,8,8,6)
        b = torch.sigmoid(b)
        x = torch.cat([a, b], dim=3)  # (N,8,8,12)
        x = F.avg_pool2d(x.permute(0, 3, 1, 2), 2).permute(0, 2, 3, 1)  # (N,4,4,12)
        x = x.reshape(x.shape[0], -1)  # Keras Flatten: (H,W,C) order
        x = F.relu(x @ self.dense1 + self.bias1)
        x = x @ self.dense2 + self.bias2
        return torch.softmax(x, dim=-1)


class DynamicView(nn.Module):
    """x.view(x.size(0), -1) with a dynamic batch: PyTorch exports the shape
    computation (Shape, Gather, Unsqueeze, Concat) feeding Reshape."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, 2, 1)
        self.fc = nn.Linear(4 * 4 * 4, 6)

    def forward(self, x):  # x is (N,3,8,8)
        x = F.relu(self.conv(x))
        return self.fc(x.view(x.size(0), -1))


class FERPlusLike(nn.Module):
    """The structure of emotion-ferplus-8 with fewer channels."""

    def __init__(self):
        super().__init__()
        chans = [1, 8, 16, 32, 32]
        convs = []
        for i in range(4):
            convs += [nn.Conv2d(chans[i], chans[i + 1], 3, 1, 1), nn.ReLU()]
            if i >= 2:
                convs += [nn.Conv2d(chans[i + 1], chans[i + 1], 3, 1, 1), nn.ReLU()]
            convs += [nn.MaxPool2d(2, 2)]
        self.features = nn.Sequential(*convs)
        self.fc1 = nn.Linear(32 * 4 * 4, 64)
        self.drop = nn.Dropout(0.5)
        self.w2 = nn.Parameter(torch.randn(64, 64) * 0.1)
        self.fc3 = nn.Linear(64, 8)

    def forward(self, x):  # x is (1,1,64,64) pixel values 0..255
        x = (x - 127.5) / 255.0
        x = self.features(x)
        x = x.reshape(1, -1)
        x = self.drop(F.relu(self.fc1(x)))
        x = self.drop(F.relu(x @ self.w2))
        return self.fc3(x)


def randomize_bn(model, gen):
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.running_mean.copy_(torch.randn(c, generator=gen) * 0.2)
            m.running_var.copy_(torch.rand(c, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(c, generator=gen) + 0.5)
            m.bias.data.copy_(torch.randn(c, generator=gen) * 0.2)


def build(name, size=64):
    """Returns (model in eval mode, example input, input layout, training mode, dynamic batch).

    size is the input side of the full-size torchvision networks."""
    torch.manual_seed({"resnet18_small": 1, "resnet50_small": 2, "keras_style": 3, "ferplus_like": 4, "dynamic_view": 7, "resnet18": 5, "resnet50": 6}[name])
    gen = torch.Generator().manual_seed(100)
    preserve, eval_ = torch.onnx.TrainingMode.PRESERVE, torch.onnx.TrainingMode.EVAL
    if name == "resnet18_small":
        m, x, layout, mode, dyn = SmallResNet(BasicBlock, [2, 2, 2, 2], [4, 8, 16, 32], 10), torch.randn(2, 3, 32, 32), "NCHW", preserve, True
    elif name == "resnet50_small":
        m, x, layout, mode, dyn = SmallResNet(Bottleneck, [3, 4, 6, 3], [4, 8, 16, 32], 10), torch.randn(2, 3, 32, 32), "NCHW", eval_, True
    elif name == "keras_style":
        m, x, layout, mode, dyn = KerasStyle(), torch.randn(2, 16, 16, 3), "NHWC", eval_, False
    elif name == "ferplus_like":
        m, x, layout, mode, dyn = FERPlusLike(), torch.rand(1, 1, 64, 64) * 255, "NCHW", eval_, False
    elif name == "dynamic_view":
        m, x, layout, mode, dyn = DynamicView(), torch.randn(3, 3, 8, 8), "NCHW", eval_, True
    elif name == "resnet18":
        m, x, layout, mode, dyn = torchvision.models.resnet18(num_classes=1000), torch.randn(1, 3, size, size), "NCHW", preserve, True
    elif name == "resnet50":
        m, x, layout, mode, dyn = torchvision.models.resnet50(num_classes=1000), torch.randn(1, 3, size, size), "NCHW", eval_, True
    else:
        raise SystemExit(f"unknown network {name!r}")
    with torch.no_grad():
        randomize_bn(m, gen)
    return m.eval(), x, layout, mode, dyn


def export(name, outdir, size=64):
    m, x, layout, mode, dyn = build(name, size)
    with torch.no_grad():
        y = m(x)
    buf = io.BytesIO()
    torch.onnx.export(
        m, x, buf, opset_version=13, training=mode, do_constant_folding=True,
        input_names=["input"], output_names=["logits"],
        dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}} if dyn else None,
    )
    os.makedirs(outdir, exist_ok=True)
    with open(os.path.join(outdir, name + ".onnx"), "wb") as f:
        f.write(buf.getvalue())
    ref = {
        "input_layout": layout,
        "input": {"shape": list(x.shape), "data": [round(float(v), 7) for v in x.flatten()]},
        "logits": {"shape": list(y.shape), "data": [float(v) for v in y.flatten()]},
    }
    with open(os.path.join(outdir, name + ".json"), "w") as f:
        json.dump(ref, f)
    print(f"{name}: {len(buf.getvalue())} bytes, logits {list(y.shape)}", file=sys.stderr)


def bench(name, size, threads):
    torch.set_num_threads(threads)
    m, _, _, _, _ = build(name, size)
    res = {}
    for batch in (1, 64):
        x = torch.randn(batch, 3, size, size)
        with torch.no_grad():
            for _ in range(3):
                m(x)
            n, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < 5 or n < 5:
                m(x)
                n += 1
            dt = (time.perf_counter() - t0) / n
        res[f"batch{batch}"] = {"ms_per_batch": dt * 1e3, "images_per_s": batch / dt}
        print(f"torch {name} 3x{size}x{size} batch {batch}: {dt*1e3:.2f} ms/batch, {batch/dt:.1f} images/s ({threads} threads)")
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--full", metavar="DIR", help="export full-size torchvision resnet18/resnet50 into DIR")
    ap.add_argument("--bench", metavar="NET", help="time the PyTorch network (resnet18, resnet50, resnet18_small...)")
    ap.add_argument("--size", type=int, default=64, help="input side of the --full exports and --bench (default 64)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads for --bench (default 2)")
    ap.add_argument("--only", nargs="+", metavar="NET", help="regenerate only these committed fixtures")
    a = ap.parse_args()
    torch.set_num_threads(2)
    if a.bench:
        bench(a.bench, a.size, a.threads)
        return
    if a.full:
        for name in ("resnet18", "resnet50"):
            export(name, a.full, a.size)
        return
    for name in a.only or ("resnet18_small", "resnet50_small", "keras_style", "ferplus_like", "dynamic_view"):
        export(name, OUT)


if __name__ == "__main__":
    main()
