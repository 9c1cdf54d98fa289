#!/usr/bin/python3
"""Loads an exported safetensors file (`residual export --format safetensors`) into a
torchvision-style PyTorch ResNet and compares its logits with residual's.

    /usr/bin/python3 scripts/check_safetensors_torch.py [--torchvision] WEIGHTS INPUT LOGITS

INPUT is raw float32 (N,H,W,C) preprocessed images, LOGITS raw float32 (N,classes)
computed by residual (eval mode). Prints {"max_abs_diff": ..., "max_abs_logit": ...}
as JSON. The module is built from the "config" metadata: ResNet v1 with basic or
bottleneck blocks, "small" (3x3) or "imagenet" (7x7/2 + max-pool) stem, global
average pooling and an `fc` classifier, with torchvision's parameter names
(conv1, bn1, layer1.0.conv1, layer1.0.downsample.0, ..., fc). With --torchvision the
module is torchvision.models.resnet18/34/50/101/152 itself (the config must be that
preset: ImageNet stem, 64..512 widths, 3 input channels).
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from load_safetensors import load_safetensors  # noqa: E402


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin, width, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, width, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.downsample = None
        if stride != 1 or cin != width:
            self.downsample = nn.Sequential(nn.Conv2d(cin, width, 1, stride, bias=False), nn.BatchNorm2d(width))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + identity)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin, width, stride):
        super().__init__()
        out = width * 4
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.downsample = None
        if stride != 1 or cin != out:
            self.downsample = nn.Sequential(nn.Conv2d(cin, out, 1, stride, bias=False), nn.BatchNorm2d(out))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        return F.relu(self.bn3(self.conv3(y)) + identity)


class ResNet(nn.Module):
    """torchvision.models.ResNet's structure, with a configurable stem and stages."""

    def __init__(self, cfg):
        super().__init__()
        if cfg.get("version", 1) != 1 or cfg.get("input_adapter") or cfg.get("head") or cfg.get("pool", "avg") != "avg":
            raise SystemExit(f"unsupported config for this check: {cfg}")
        mult = cfg.get("width_mult") or 1
        scale = lambda c: max(1, int(c * mult + 0.5))  # noqa: E731
        block = BasicBlock if cfg["block"] == "basic" else Bottleneck
        cin = cfg["input"][2]
        stem = scale(cfg.get("stem_width") or cfg["widths"][0])
        self.imagenet = cfg["stem"] == "imagenet"
        if self.imagenet:
            self.conv1 = nn.Conv2d(cin, stem, 7, 2, 3, bias=False)
        else:
            self.conv1 = nn.Conv2d(cin, stem, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(stem)
        cin = stem
        for s, (n, w) in enumerate(zip(cfg["layers"], cfg["widths"])):
            blocks = []
            for j in range(n):
                blocks.append(block(cin, scale(w), 2 if s > 0 and j == 0 else 1))
                cin = scale(w) * block.expansion
            setattr(self, f"layer{s + 1}", nn.Sequential(*blocks))
        self.stages = len(cfg["layers"])
        self.fc = nn.Linear(cin, cfg["classes"])

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        if self.imagenet:
            x = F.max_pool2d(x, 3, 2, 1)
        for s in range(self.stages):
            x = getattr(self, f"layer{s + 1}")(x)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def torchvision_resnet(cfg):
    import torchvision
    depth = {("basic", (2, 2, 2, 2)): 18, ("basic", (3, 4, 6, 3)): 34, ("bottleneck", (3, 4, 6, 3)): 50,
             ("bottleneck", (3, 4, 23, 3)): 101, ("bottleneck", (3, 8, 36, 3)): 152}.get((cfg["block"], tuple(cfg["layers"])))
    if depth is None or cfg["stem"] != "imagenet" or cfg["widths"] != [64, 128, 256, 512] or cfg["input"][2] != 3:
        raise SystemExit(f"config is not a torchvision ResNet: {cfg}")
    return getattr(torchvision.models, f"resnet{depth}")(num_classes=cfg["classes"])


def main():
    args = sys.argv[1:]
    tv = "--torchvision" in args
    weights, inp, logits = [a for a in args if a != "--torchvision"][:3]
    state, meta = load_safetensors(weights)
    cfg = json.loads(meta["config"])
    net = torchvision_resnet(cfg) if tv else ResNet(cfg)
    net.load_state_dict(state)  # strict: every name and shape must match
    net.eval()
    h, w, c = cfg["input"]
    x = torch.from_numpy(np.fromfile(inp, dtype="<f4").reshape(-1, h, w, c)).permute(0, 3, 1, 2).contiguous()
    want = np.fromfile(logits, dtype="<f4").reshape(x.shape[0], -1)
    with torch.no_grad():
        got = net(x).numpy()
    print(json.dumps({"max_abs_diff": float(np.abs(got - want).max()), "max_abs_logit": float(np.abs(want).max()),
                      "images": int(x.shape[0]), "module": type(net).__module__ + "." + type(net).__name__}))


if __name__ == "__main__":
    main()
