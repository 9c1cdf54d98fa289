#!/usr/bin/python3
"""PyTorch reference fixtures for the Go layers (package nn) and a small ResNet.

Writes two safetensors files that the Go tests read (CI never runs PyTorch):

    nn/testdata/torch_layers.safetensors        one group of tensors per layer case
    model/testdata/torch_resnet_small.safetensors  one training step of a tiny ResNet
    model/testdata/torch_keras_v2.safetensors      the same for a tiny Keras-layout ResNet v2
    model/testdata/torch_bf16.safetensors          eval logits in float32 and bf16 autocast (basic, bottleneck)

Regenerate them from the repository root with

    /usr/bin/python3 scripts/torch_reference.py [--only bf16]

(Debian's python3-torch, CPU, float32). The output is deterministic: a fixed
seed per case, two threads. Commit the regenerated files together with any
change to this script.

Layouts are OURS, not PyTorch's, so that the Go tests compare buffers directly:

    activations   (N,H,W,C)           PyTorch's NCHW permuted (0,2,3,1)
    conv weight   (Cout,KH,KW,Cin)    PyTorch's OIHW permuted (0,2,3,1)
    linear weight (Out,In)            as PyTorch
    pooled/logits (N,C)               as PyTorch
    labels        I64                 class indices
    scalars       shape []            e.g. a loss

For a layer case named CASE the tensors are CASE.x (input), CASE.<param>
(weight, bias, ...; BatchNorm also running_mean/running_var before the
step), CASE.y (output), CASE.dy (a random upstream gradient), and the
gradients of L = sum(y * dy): CASE.dx and CASE.d<param>. BatchNorm in
training mode also stores CASE.running_mean_after / CASE.running_var_after.
Each case's configuration is in the file metadata under "case.CASE" (JSON).

The ResNet file uses PyTorch state_dict names (e.g. layer2.0.downsample.0.weight)
for the parameters and buffers before the step, plus x, labels, logits, loss,
dx, grad.<param>, after.<buffer> (running statistics after the step) and
eval_logits (eval mode, after the step); its metadata "description" says more.

The safetensors writer is a few lines below (the python safetensors
package is not needed): 8-byte little-endian header length, a JSON header,
then the raw little-endian data.
"""

import argparse
import json
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

SCRIPT = "scripts/torch_reference.py"
LAYOUTS = (
    "activations NHWC (PyTorch NCHW permuted 0,2,3,1); conv weight (Cout,KH,KW,Cin) "
    "(PyTorch OIHW permuted 0,2,3,1); linear weight (Out,In); labels I64; losses are scalars of shape []"
)


# ---------------------------------------------------------------- safetensors


def write_safetensors(path, tensors, metadata):
    """Writes tensors (an ordered dict name -> numpy array) and metadata (str -> str)."""
    header = {"__metadata__": metadata}
    chunks = []
    offset = 0
    for name, arr in tensors.items():
        arr = np.array(arr, order="C", copy=True)  # (ascontiguousarray would make scalars 1-D)
        if arr.dtype == np.float32:
            dtype = "F32"
        elif arr.dtype == np.int64:
            dtype = "I64"
        else:
            raise TypeError(f"{name}: unsupported dtype {arr.dtype}")
        data = arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * (-len(hjson) % 8)  # align the data section to 8 bytes
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for c in chunks:
            f.write(c)
    print(f"wrote {path}: {len(tensors)} tensors, {8 + len(hjson) + offset} bytes")


# ---------------------------------------------------------------- layouts


def nhwc(t):
    """NCHW activation -> NHWC numpy array."""
    return t.detach().permute(0, 2, 3, 1).contiguous().numpy()


def ohwi(w):
    """PyTorch conv weight (Cout,Cin,KH,KW) -> (Cout,KH,KW,Cin)."""
    return w.detach().permute(0, 2, 3, 1).contiguous().numpy()


def plain(t):
    return t.detach().contiguous().numpy()


def act(t):
    """Our layout of an activation: NHWC for 4-D, unchanged otherwise."""
    return nhwc(t) if t.dim() == 4 else plain(t)


def param(t):
    """Our layout of a parameter or buffer: conv weights (the only 4-D ones)
    become OHWI, the rest (linear weights, vectors, I64 counters) stay as is."""
    return ohwi(t) if t.dim() == 4 else plain(t)


class Fixture:
    """Collects the tensors and per-case configs of one output file."""

    def __init__(self):
        self.tensors = {}
        self.cases = {}

    def add(self, name, arr):
        assert name not in self.tensors, name
        # Copy now: .numpy() shares memory with the tensor, and BatchNorm
        # updates its running statistics in place during the forward pass.
        arr = np.array(arr, dtype=np.float32 if arr.dtype == np.float64 else arr.dtype, order="C", copy=True)
        self.tensors[name] = arr

    def case(self, name, config):
        self.cases[name] = json.dumps(config, sort_keys=True)


def seed(n):
    torch.manual_seed(n)


def check_relu_margin(name, pre):
    """Warns when a value entering a ReLU is so close to 0 that float
    rounding in another implementation could flip its gradient."""
    m = pre.detach().abs().min().item()
    if m < 1e-4:
        print(f"warning: {name}: a ReLU input is {m:.2e} from 0", file=sys.stderr)


# ---------------------------------------------------------------- layer cases


def run_layer(fx, case, module, x, config, params=(), buffers=(), owner=None):
    """Runs module on x (NCHW or 2-D), backpropagates L = sum(y*dy) and stores
    x, params, buffers (before and after), y, dy, dx and the param grads.
    Params and buffers are attributes of owner (default: module itself)."""
    owner = owner or module
    fx.case(case, config)
    for b in buffers:
        fx.add(f"{case}.{b}", param(getattr(owner, b)))
    x = x.clone().requires_grad_(True)
    y = module(x)
    dy = torch.randn_like(y)
    (y * dy).sum().backward()
    fx.add(f"{case}.x", act(x))
    for p in params:
        fx.add(f"{case}.{p}", param(getattr(owner, p)))
        fx.add(f"{case}.d{p}", param(getattr(owner, p).grad))
    fx.add(f"{case}.y", act(y))
    fx.add(f"{case}.dy", act(dy))
    fx.add(f"{case}.dx", act(x.grad))
    if module.training:
        for b in buffers:
            fx.add(f"{case}.{b}_after", param(getattr(owner, b)))
    return y


def conv_case(fx, case, n, h, w, cin, cout, kernel, stride, padding, bias, s):
    seed(s)
    conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, bias=bias)
    x = torch.randn(n, cin, h, w)
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    cfg = dict(kind="conv2d", in_c=cin, out_c=cout, kernel_h=kh, kernel_w=kw, stride=stride, padding=padding, bias=bias)
    run_layer(fx, case, conv, x, cfg, params=("weight", "bias") if bias else ("weight",))


def conv_cases(fx):
    conv_case(fx, "conv3x3_s1_p1", 2, 5, 7, 3, 4, 3, 1, 1, True, 101)
    conv_case(fx, "conv3x3_s2_p1", 2, 5, 7, 3, 4, 3, 2, 1, False, 102)
    conv_case(fx, "conv1x1_s1", 2, 5, 7, 3, 5, 1, 1, 0, False, 103)
    conv_case(fx, "conv1x1_s2", 2, 5, 7, 4, 8, 1, 2, 0, False, 104)  # projection shortcut
    conv_case(fx, "conv7x7_s2_p3", 2, 9, 11, 3, 4, 7, 2, 3, False, 105)  # ResNet stem
    conv_case(fx, "conv2x3_s1_p0", 3, 4, 6, 2, 3, (2, 3), 1, 0, True, 106)  # rectangular kernel, odd sizes
    conv_case(fx, "conv3x3_s2_p0", 2, 6, 6, 3, 2, 3, 2, 0, True, 107)  # even input, windows leave a border
    # More channels: GEMM sizes (M=162, K=144, N=24) past any kernel's register tile.
    conv_case(fx, "conv3x3_s1_p1_wide", 2, 9, 9, 16, 24, 3, 1, 1, True, 108)


def batchnorm_module(c):
    """A BatchNorm2d with non-trivial affine parameters and running statistics."""
    bn = nn.BatchNorm2d(c, eps=1e-5, momentum=0.1)
    with torch.no_grad():
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.normal_(0, 0.5)
        bn.running_mean.normal_(0, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
    return bn


def batchnorm_cases(fx):
    buffers = ("running_mean", "running_var")
    for case, train, relu, s in [
        ("bn_train", True, False, 201),
        ("bn_eval", False, False, 202),
        ("bn_relu_train", True, True, 203),
        ("bn_relu_eval", False, True, 204),
    ]:
        seed(s)
        bn = batchnorm_module(4)
        bn.train(train)
        # A mean far from 0 and uneven scales check the variance computation.
        x = torch.randn(3, 4, 5, 7) * torch.tensor([1.0, 2.0, 0.5, 3.0]).view(1, 4, 1, 1) + 3.0
        module = nn.Sequential(bn, nn.ReLU()) if relu else bn
        cfg = dict(kind="batchnorm2d", c=4, momentum=0.1, eps=1e-5, train=train, relu=relu)
        if relu:
            with torch.no_grad():  # batch statistics without touching the running ones
                check_relu_margin(case, bn(x) if not train else F.batch_norm(x, None, None, bn.weight, bn.bias, True))
        run_layer(fx, case, module, x, cfg, params=("weight", "bias"), buffers=buffers, owner=bn)


def relu_case(fx):
    seed(301)
    x = torch.randn(2, 3, 5, 7)
    check_relu_margin("relu", x)
    run_layer(fx, "relu", nn.ReLU(), x, dict(kind="relu"))


def pool_cases(fx):
    seed(401)
    run_layer(fx, "maxpool3x3_s2_p1", nn.MaxPool2d(3, stride=2, padding=1), torch.randn(2, 3, 5, 7),
              dict(kind="maxpool2d", kernel=3, stride=2, padding=1))
    seed(405)  # mostly negative input on an even size: padding must act as -inf, not 0
    run_layer(fx, "maxpool3x3_s2_p1_neg", nn.MaxPool2d(3, stride=2, padding=1), torch.randn(2, 3, 6, 8) - 2.0,
              dict(kind="maxpool2d", kernel=3, stride=2, padding=1))
    seed(402)
    run_layer(fx, "avgpool2x2_s2", nn.AvgPool2d(2, stride=2), torch.randn(2, 3, 5, 7),
              dict(kind="avgpool2d", kernel=2, stride=2, padding=0, count_include_pad=True))
    seed(403)
    run_layer(fx, "avgpool3x3_s1_p1", nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=True),
              torch.randn(2, 3, 5, 7), dict(kind="avgpool2d", kernel=3, stride=1, padding=1, count_include_pad=True))
    seed(404)
    gap = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())  # (N,C,H,W) -> (N,C)
    run_layer(fx, "global_avgpool", gap, torch.randn(2, 5, 5, 7), dict(kind="global_avgpool"))


def linear_cases(fx):
    seed(501)
    run_layer(fx, "linear", nn.Linear(6, 4), torch.randn(3, 6), dict(kind="linear", in_f=6, out_f=4, bias=True),
              params=("weight", "bias"))
    seed(503)  # odd sizes for GEMM edge handling
    run_layer(fx, "linear_odd", nn.Linear(37, 19), torch.randn(9, 37), dict(kind="linear", in_f=37, out_f=19, bias=True),
              params=("weight", "bias"))
    seed(502)
    run_layer(fx, "linear_nobias", nn.Linear(5, 3, bias=False), torch.randn(2, 5),
              dict(kind="linear", in_f=5, out_f=3, bias=False), params=("weight",))


def add_cases(fx):
    """out = a + b, optionally followed by ReLU (the residual join)."""
    for case, relu, s in [("add", False, 601), ("add_relu", True, 602)]:
        seed(s)
        a = torch.randn(2, 4, 5, 7).requires_grad_(True)
        b = torch.randn(2, 4, 5, 7).requires_grad_(True)
        y = a + b
        if relu:
            check_relu_margin(case, y)
            y = F.relu(y)
        dy = torch.randn_like(y)
        (y * dy).sum().backward()
        fx.case(case, dict(kind="add", relu=relu))
        for name, t in [("a", a), ("b", b), ("y", y), ("dy", dy), ("da", a.grad), ("db", b.grad)]:
            fx.add(f"{case}.{name}", nhwc(t))


def cross_entropy_cases(fx):
    n, k = 5, 7
    class_weights = torch.tensor([1.0, 2.0, 0.5, 1.5, 0.0, 3.0, 1.0])
    for case, smoothing, weighted, s in [
        ("ce", 0.0, False, 701),
        ("ce_smooth", 0.1, False, 702),
        ("ce_weighted", 0.0, True, 703),
        ("ce_weighted_smooth", 0.1, True, 704),
    ]:
        seed(s)
        logits = (torch.randn(n, k) * 2).requires_grad_(True)
        labels = torch.randint(0, k, (n,))
        w = class_weights if weighted else None
        loss = F.cross_entropy(logits, labels, weight=w, label_smoothing=smoothing)
        loss.backward()
        fx.case(case, dict(kind="cross_entropy", classes=k, label_smoothing=smoothing, weighted=weighted))
        fx.add(f"{case}.logits", plain(logits))
        fx.add(f"{case}.labels", labels.numpy().astype(np.int64))
        if weighted:
            fx.add(f"{case}.weights", plain(w))
        fx.add(f"{case}.loss", plain(loss))
        fx.add(f"{case}.dlogits", plain(logits.grad))


# ---------------------------------------------------------------- small ResNet


RELU_INPUTS = []  # inputs of the ResNet's ReLUs, checked for near-zero values


def relu(x):
    RELU_INPUTS.append(x.detach())
    return F.relu(x)


class BasicBlock(nn.Module):
    """torchvision's BasicBlock: conv3x3-BN-ReLU-conv3x3-BN, + shortcut, ReLU."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return relu(out + identity)


class SmallResNet(nn.Module):
    """stem conv3x3(1->4)+BN+ReLU, layer1: BasicBlock 4->4, layer2: BasicBlock
    4->8 stride 2 with a 1x1 conv + BN projection, global average pool, fc 8->3."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(4)
        self.layer1 = nn.Sequential(BasicBlock(4, 4, 1))
        self.layer2 = nn.Sequential(BasicBlock(4, 8, 2))
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        x = relu(self.bn1(self.conv1(x)))
        x = self.layer2(self.layer1(x))
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self.fc(x)


def resnet_fixture():
    seed(801)
    model = SmallResNet()
    # Non-trivial BN parameters and running statistics, so that a loader
    # that drops or mislays any of them is caught.
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.2)
                m.running_mean.normal_(0, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    fx = Fixture()
    for name, t in model.state_dict().items():
        fx.add(name, param(t))
    x = torch.randn(4, 1, 8, 8)
    labels = torch.tensor([0, 2, 1, 2])
    model.train()
    logits = model(x.requires_grad_(True))
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    for i, pre in enumerate(RELU_INPUTS):
        check_relu_margin(f"resnet relu {i}", pre)
    fx.add("x", nhwc(x))
    fx.add("labels", labels.numpy().astype(np.int64))
    fx.add("logits", plain(logits))
    fx.add("loss", plain(loss))
    fx.add("dx", nhwc(x.grad))
    for name, p in model.named_parameters():
        fx.add(f"grad.{name}", param(p.grad))
    for name, t in model.state_dict().items():
        if "running" in name or "num_batches" in name:
            fx.add(f"after.{name}", param(t))
    # Inference with the updated running statistics.
    model.eval()
    with torch.no_grad():
        fx.add("eval_logits", plain(model(x)))
    metadata = {
        "torch_version": torch.__version__,
        "script": SCRIPT,
        "layouts": LAYOUTS,
        "description": (
            "One training step (train mode, loss = mean cross-entropy of logits vs labels) of SmallResNet: "
            "conv1 3x3 1->4 + bn1 + relu; layer1.0 BasicBlock 4->4; layer2.0 BasicBlock 4->8 stride 2 with "
            "downsample.0 (1x1 conv s2) + downsample.1 (BN); adaptive avg pool; fc 8->3. All BN eps 1e-5, "
            "momentum 0.1. Tensors: state_dict names = values before the step (num_batches_tracked I64); "
            "x (N,H,W,1), labels, logits (N,3), loss (scalar), dx = dloss/dx; grad.<param> = dloss/dparam; "
            "after.<buffer> = running statistics after the step; eval_logits = logits in eval mode after the step."
        ),
    }
    return fx, metadata


# ---------------------------------------------------------------- Keras-layout ResNet v2

KERAS_EPS, KERAS_MOMENTUM = 1.001e-5, 0.01  # Keras' epsilon and momentum 0.99


def keras_bn(c):
    return nn.BatchNorm2d(c, eps=KERAS_EPS, momentum=KERAS_MOMENTUM)


class KerasBlock2(nn.Module):
    """keras.applications.resnet_v2's block2, with our parameter names:
    p = relu(bn1(x)); branch conv1 1x1 (no bias) - bn2 - relu - conv2 3x3
    stride s (no bias) - bn3 - relu - conv3 1x1 (bias); shortcut = 1x1 conv
    with bias on p (downsample.0) when conv_shortcut, else MaxPooling2D(1, s)
    of x when s > 1, else x."""

    def __init__(self, cin, width, stride, conv_shortcut):
        super().__init__()
        out = 4 * width
        self.stride = stride
        self.bn1 = keras_bn(cin)
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn2 = keras_bn(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn3 = keras_bn(width)
        self.conv3 = nn.Conv2d(width, out, 1, bias=True)
        self.downsample = nn.Sequential(nn.Conv2d(cin, out, 1, stride=stride, bias=True)) if conv_shortcut else None

    def forward(self, x):
        p = relu(self.bn1(x))
        if self.downsample is not None:
            shortcut = self.downsample(p)
        elif self.stride > 1:
            shortcut = F.max_pool2d(x, 1, stride=self.stride)
        else:
            shortcut = x
        y = relu(self.bn2(self.conv1(p)))
        y = relu(self.bn3(self.conv2(y)))
        return self.conv3(y) + shortcut


POOL_PADDING_WON = []  # how many stem max-pool outputs the zero padding won


class KerasResNetV2(nn.Module):
    """Keras' ResNet v2 (stack2) at toy size: conv1 7x7/2 3->4 with bias
    (ZeroPadding2D 3), ZeroPadding2D 1 + MaxPooling2D 3/2, layer1 = stack2(4
    filters, 3 blocks: projection, identity, stride 2 with the max-pool
    shortcut), layer2 = stack2(8 filters, 2 blocks, stride1=1), post_bn +
    relu, global average pool, fc 32->3."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 7, stride=2, padding=3, bias=True)
        self.layer1 = nn.Sequential(KerasBlock2(4, 4, 1, True), KerasBlock2(16, 4, 1, False), KerasBlock2(16, 4, 2, False))
        self.layer2 = nn.Sequential(KerasBlock2(16, 8, 1, True), KerasBlock2(32, 8, 1, False))
        self.post_bn = keras_bn(32)
        self.fc = nn.Linear(32, 3)

    def forward(self, x):
        x = self.conv1(x)
        zero = F.max_pool2d(F.pad(x, (1, 1, 1, 1)), 3, stride=2)
        POOL_PADDING_WON.append(int((zero != F.max_pool2d(x, 3, stride=2, padding=1)).sum()))
        x = self.layer2(self.layer1(zero))
        x = relu(self.post_bn(x))
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self.fc(x)


def keras_v2_fixture():
    seed(817)
    model = KerasResNetV2()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.2)
                m.running_mean.normal_(0, 0.2)
                m.running_var.uniform_(0.5, 1.5)
            if isinstance(m, nn.Conv2d) and m.bias is not None:
                m.bias.normal_(0, 0.2)
    fx = Fixture()
    for name, t in model.state_dict().items():
        fx.add(name, param(t))
    x = torch.randn(4, 3, 20, 20)
    labels = torch.tensor([0, 2, 1, 2])
    RELU_INPUTS.clear()
    model.train()
    logits = model(x)
    assert POOL_PADDING_WON[-1] > 0, "no stem max-pool window was won by its zero padding: pick another seed"
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    for i, pre in enumerate(RELU_INPUTS):
        check_relu_margin(f"keras v2 relu {i}", pre)
    fx.add("x", nhwc(x))
    fx.add("labels", labels.numpy().astype(np.int64))
    fx.add("logits", plain(logits))
    fx.add("loss", plain(loss))
    for name, p in model.named_parameters():
        fx.add(f"grad.{name}", param(p.grad))
    for name, t in model.state_dict().items():
        if "running" in name or "num_batches" in name:
            fx.add(f"after.{name}", param(t))
    model.eval()
    with torch.no_grad():
        fx.add("eval_logits", plain(model(x)))
    metadata = {
        "torch_version": torch.__version__,
        "script": SCRIPT,
        "layouts": LAYOUTS,
        "description": (
            "One training step (train mode, mean cross-entropy) of KerasResNetV2, keras.applications.resnet_v2 "
            "(stack2/block2) at toy size with our parameter names: model.Config{Version: 2, Layout: keras, "
            "Block: bottleneck, Layers: [3,2], Widths: [4,8], Stem: imagenet, Input: 20x20x3, Classes: 3}. "
            "BN eps 1.001e-5, momentum 0.01; the stem max-pool pads with zeros (%d outputs differ from -inf "
            "padding). Tensors as in torch_resnet_small.safetensors (no dx: the stem skips it)." % POOL_PADDING_WON[0]
        ),
    }
    return fx, metadata


# ---------------------------------------------------------------- main


# ---------------------------------------------------------------- bf16 inference

class Bottleneck(nn.Module):
    """torchvision's Bottleneck (v1.5: the stride on the 3x3 conv): 1x1
    cin->w, 3x3 w->w stride s, 1x1 w->4w, each with BN (ReLU after the first
    two), + shortcut (1x1 conv s + BN when the shape changes), ReLU."""

    def __init__(self, cin, width, stride):
        super().__init__()
        cout = 4 * width
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = relu(self.bn1(self.conv1(x)))
        out = relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return relu(out + identity)


class Bf16Net(nn.Module):
    """stem conv3x3 1->16 + BN + ReLU, layer1 = one block at 16 channels
    (stride 1), layer2 = one block at 32 (stride 2, with a projection),
    global average pool, fc -> 5: basic blocks or bottlenecks (x4 outputs)."""

    def __init__(self, block):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        if block == "basic":
            self.layer1 = nn.Sequential(BasicBlock(16, 16, 1))
            self.layer2 = nn.Sequential(BasicBlock(16, 32, 2))
            out = 32
        else:
            self.layer1 = nn.Sequential(Bottleneck(16, 16, 1))
            self.layer2 = nn.Sequential(Bottleneck(64, 32, 2))
            out = 128
        self.fc = nn.Linear(out, 5)

    def forward(self, x):
        x = relu(self.bn1(self.conv1(x)))
        x = self.layer2(self.layer1(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def bf16_fixture():
    """Inference logits of two small ResNets in float32 and under PyTorch's
    bf16 autocast (channels_last), on inputs large enough for residual's
    Winograd F(4x4) (16 channels, 64 tiles of 4x4), F(2x2) and bf16 paths."""
    fx = Fixture()
    for i, block in enumerate(["basic", "bottleneck"]):
        seed(901 + i)
        model = Bf16Net(block)
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.weight.uniform_(0.5, 1.5)
                    m.bias.normal_(0, 0.2)
                    m.running_mean.normal_(0, 0.2)
                    m.running_var.uniform_(0.5, 1.5)
        model.eval()
        x = torch.randn(4, 1, 16, 16)
        with torch.no_grad():
            logits = model(x)
            cl = model.to(memory_format=torch.channels_last)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                logits_bf16 = cl(x.to(memory_format=torch.channels_last)).float()
        for name, t in model.state_dict().items():
            fx.add(f"{block}.{name}", param(t))
        fx.add(f"{block}.x", nhwc(x))
        fx.add(f"{block}.logits", plain(logits))
        fx.add(f"{block}.logits_bf16", plain(logits_bf16))
    metadata = {
        "torch_version": torch.__version__,
        "script": SCRIPT,
        "layouts": LAYOUTS,
        "description": (
            "Eval-mode logits of Bf16Net (basic. and bottleneck. prefixes: stem conv3x3 1->16 + BN + ReLU, "
            "layer1.0 block at 16 channels stride 1, layer2.0 block at 32 channels stride 2 with projection, "
            "avg pool, fc -> 5; bottleneck = torchvision's, 4x expansion) on x (4,16,16,1): "
            "<block>.logits in float32, <block>.logits_bf16 under torch.autocast('cpu', bfloat16) with "
            "channels_last. BN parameters and running statistics are random."
        ),
    }
    return fx, metadata


def main():
    ap = argparse.ArgumentParser(description="Writes the PyTorch reference fixtures.")
    ap.add_argument("--only", choices=["bf16"], help="write only this fixture file (default: all)")
    args = ap.parse_args()
    torch.set_num_threads(2)
    torch.set_default_dtype(torch.float32)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

    if args.only == "bf16":
        fx, metadata = bf16_fixture()
        write_safetensors(os.path.join(root, "model/testdata/torch_bf16.safetensors"), fx.tensors, metadata)
        return

    fx = Fixture()
    conv_cases(fx)
    batchnorm_cases(fx)
    relu_case(fx)
    pool_cases(fx)
    linear_cases(fx)
    add_cases(fx)
    cross_entropy_cases(fx)
    metadata = {"torch_version": torch.__version__, "script": SCRIPT, "layouts": LAYOUTS}
    metadata.update({f"case.{k}": v for k, v in fx.cases.items()})
    write_safetensors(os.path.join(root, "nn/testdata/torch_layers.safetensors"), fx.tensors, metadata)

    fx, metadata = resnet_fixture()
    write_safetensors(os.path.join(root, "model/testdata/torch_resnet_small.safetensors"), fx.tensors, metadata)

    fx, metadata = keras_v2_fixture()
    write_safetensors(os.path.join(root, "model/testdata/torch_keras_v2.safetensors"), fx.tensors, metadata)

    fx, metadata = bf16_fixture()
    write_safetensors(os.path.join(root, "model/testdata/torch_bf16.safetensors"), fx.tensors, metadata)


if __name__ == "__main__":
    main()
