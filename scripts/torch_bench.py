#!/usr/bin/python3
"""PyTorch side of `residual bench`: the same reference network, measured the same way.

Run on this machine with Debian's PyTorch (apt-get install python3-torch):

    /usr/bin/python3 scripts/torch_bench.py [--threads 2] [--seconds 10] [--json] [--modes fp32,fp32-cl,bf16-cl]
    /usr/bin/python3 scripts/torch_bench.py --model resnet18-small --width-mult 0.375 \
        --nesterov --wd 5e-4 --label-smoothing 0.1      # the FER2013 recipe's network and step

The reference network is the CIFAR-style ResNet of docs/BENCHMARKS.md: a 3x3 stem
(1->16), 3 stages x 2 basic blocks with 16/32/64 channels (stride 2 and a 1x1
projection shortcut at the start of stages 2 and 3), global average pooling and
a linear layer to 7 classes, on 48x48x1 inputs; 118.6 MFLOP forward per image.
Training is SGD with momentum 0.9 on batches of 64 with cross-entropy loss, BN in
training mode. Inference is eval mode under torch.no_grad() at batch 64 and at
batch 1 (latency). Also times the 3x3 convolutions of the network (forward,
backward-data, backward-weights) in GFLOP/s. Every figure is a median over calls
(as `residual bench` takes them).

Each is measured in three modes (--modes): fp32 NCHW (PyTorch's default), fp32
channels_last, and bf16 autocast (torch.autocast("cpu", dtype=torch.bfloat16)) with
channels_last, the fastest a PyTorch user gets on a CPU with AVX512-BF16 or AMX.

--model resnet18-small builds residual's preset of that name: ResNet-18 with the
small-input stem (3x3 stride 1 conv, BN, ReLU, no max-pool), stages of 2 basic
blocks with 64/128/256/512 channels times --width-mult (rounded as residual
rounds: int(c*m + 0.5)), global average pooling and a linear classifier.
"""
import argparse
import contextlib
import json
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + identity)


class ReferenceNet(nn.Module):
    """A small-stem ResNet of basic blocks: the reference network by default."""

    def __init__(self, classes=7, channels=1, widths=(16, 32, 64), blocks=2):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        layers, cin = [], widths[0]
        for i, cout in enumerate(widths):
            stride = 1 if i == 0 else 2
            layers += [BasicBlock(cin, cout, stride)] + [BasicBlock(cout, cout, 1) for _ in range(blocks - 1)]
            cin = cout
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layers(x)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def timed(fn, seconds, warmup=3, min_calls=5):
    """Runs fn repeatedly for about `seconds` (at least min_calls times, after
    warmup calls) and returns the median seconds per call."""
    for _ in range(warmup):
        fn()
    times, start = [], time.perf_counter()
    while len(times) < min_calls or time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


# The three ways a PyTorch user runs a CPU network: the default (fp32,
# NCHW), fp32 with channels_last tensors (oneDNN's preferred layout), and
# bf16 autocast with channels_last (oneDNN's bf16 kernels: AVX512-BF16 or AMX).
MODES = {
    "fp32": ("fp32 NCHW", torch.contiguous_format, None),
    "fp32-cl": ("fp32 channels_last", torch.channels_last, None),
    "bf16-cl": ("bf16 autocast channels_last", torch.channels_last, torch.bfloat16),
}


def autocast(dtype):
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast("cpu", dtype=dtype)


def bench_convs(args, fmt, dtype):
    """The 3x3 convolutions of the reference network: forward, backward-data,
    backward-weights in GFLOP/s (bf16 modes run them on bf16 tensors)."""
    B = args.batch
    out = []
    # (name, Cin, Cout, H, stride)
    for name, cin, cout, h, s in [("conv3x3 16->16 48x48", 16, 16, 48, 1), ("conv3x3 32->32 24x24", 32, 32, 24, 1),
                                  ("conv3x3 64->64 12x12", 64, 64, 12, 1)]:
        dt = dtype or torch.float32
        x = torch.randn(B, cin, h, h).to(dtype=dt, memory_format=fmt)
        w = torch.randn(cout, cin, 3, 3).to(dtype=dt, memory_format=fmt)
        ho = (h + 2 - 3) // s + 1
        flop = 2.0 * B * ho * ho * cout * cin * 9
        dy = torch.randn(B, cout, ho, ho).to(dtype=dt, memory_format=fmt)
        t = args.seconds / 6
        fwd = flop / timed(lambda: F.conv2d(x, w, None, s, 1), t) / 1e9
        bwd_data = flop / timed(lambda: torch.nn.grad.conv2d_input(x.shape, w, dy, s, 1), t) / 1e9
        bwd_w = flop / timed(lambda: torch.nn.grad.conv2d_weight(x, w.shape, dy, s, 1), t) / 1e9
        out.append({"name": name, "fwd_gflops": fwd, "bwd_data_gflops": bwd_data, "bwd_weight_gflops": bwd_w})
    return out


def bench_mode(args, widths, mode):
    label, fmt, dtype = MODES[mode]
    B = args.batch
    res = {"mode": mode, "label": label}
    if not args.no_convs:
        res["convs"] = bench_convs(args, fmt, dtype)
    torch.manual_seed(0)
    model = ReferenceNet(args.classes, args.channels, widths).to(memory_format=fmt)
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        # residual's optimizer skips weight decay on BN parameters and biases
        (no_decay if p.ndim == 1 else decay).append(p)
    opt = torch.optim.SGD([{"params": decay, "weight_decay": args.wd}, {"params": no_decay, "weight_decay": 0.0}],
                          lr=0.01, momentum=0.9, nesterov=args.nesterov)
    x = torch.randn(B, args.channels, args.image_size, args.image_size).to(memory_format=fmt)
    y = torch.randint(0, args.classes, (B,))

    def train_step():
        opt.zero_grad(set_to_none=True)
        with autocast(dtype):
            loss = F.cross_entropy(model(x), y, label_smoothing=args.label_smoothing)
        loss.backward()
        opt.step()

    model.train()
    res["train_images_per_s"] = B / timed(train_step, args.seconds)

    model.eval()
    with torch.no_grad(), autocast(dtype):
        res["infer_images_per_s"] = B / timed(lambda: model(x), args.seconds)
        x1 = x[:1].clone().to(memory_format=fmt)
        res["latency_batch1_ms"] = timed(lambda: model(x1), args.seconds, warmup=20) * 1e3
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=10, help="time per measurement")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--model", default="reference", choices=["reference", "resnet18-small"])
    ap.add_argument("--width-mult", type=float, default=1.0)
    ap.add_argument("--image-size", type=int, default=48)
    ap.add_argument("--channels", type=int, default=1)
    ap.add_argument("--classes", type=int, default=7)
    ap.add_argument("--nesterov", action="store_true")
    ap.add_argument("--wd", type=float, default=0.0)
    ap.add_argument("--label-smoothing", type=float, default=0.0)
    ap.add_argument("--modes", default="fp32,fp32-cl,bf16-cl", help="comma-separated: " + ", ".join(MODES))
    ap.add_argument("--no-convs", action="store_true", help="skip the single-convolution measurements")
    args = ap.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    for m in modes:
        if m not in MODES:
            ap.error(f"--modes: unknown mode {m!r} (want some of {', '.join(MODES)})")
    torch.set_num_threads(args.threads)
    base = (16, 32, 64) if args.model == "reference" else (64, 128, 256, 512)
    widths = [max(1, int(c * args.width_mult + 0.5)) for c in base]
    res = {"torch": torch.__version__, "threads": torch.get_num_threads(), "batch": args.batch,
           "network": f"{args.model} x{args.width_mult:g} {args.image_size}x{args.image_size}x{args.channels}",
           "modes": [bench_mode(args, widths, m) for m in modes]}

    if args.json:
        print(json.dumps(res))
        return
    print(f"PyTorch {res['torch']}, {res['threads']} threads, batch {args.batch}, {res['network']} (medians)")
    for r in res["modes"]:
        print(f"{r['label']}:")
        for c in r.get("convs", []):
            print(f"  {c['name']:<24} fwd {c['fwd_gflops']:7.1f}  bwd-data {c['bwd_data_gflops']:7.1f}  bwd-weight {c['bwd_weight_gflops']:7.1f} GFLOP/s")
        print(f"  train                       {r['train_images_per_s']:8.1f} images/s")
        print(f"  infer b{args.batch}                    {r['infer_images_per_s']:8.1f} images/s")
        print(f"  batch 1                     {r['latency_batch1_ms']:8.2f} ms")


if __name__ == "__main__":
    main()
