#!/usr/bin/python3
"""Fine-tunes a residual model in PyTorch with DistributedDataParallel (gloo, CPU) and
writes the weights back as safetensors for `residual import`.

    residual export --model base.residual --format safetensors --out base.safetensors
    /usr/bin/python3 scripts/ddp_finetune.py --weights base.safetensors --data DIR \
        --out tuned.safetensors --nproc 2 --steps 50
    residual import --weights tuned.safetensors --model base.residual --out tuned.residual
    residual eval --model tuned.residual --data DIR --format folders --split all

The architecture comes from the file's "config" metadata (the torchvision-style ResNet of
scripts/check_safetensors_torch.py, same tensor names); the preprocessing from
"preprocess"; the class names from "classes". DIR is an image folder: one subfolder per
class, named as the model's classes (a subset is fine), holding PNG/JPEG images. Images
are converted to the model's channels (PIL "L" or "RGB"), resized to its input size
(bilinear) and normalised as (pixel/255 - mean) / std.

On one machine --nproc N spawns N processes that rendezvous on 127.0.0.1. Across
machines, start one process per rank with RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT in
its environment (--nproc is then ignored; rank 0 listens on MASTER_ADDR:MASTER_PORT), e.g.
on two nodes, the same command on each with its own RANK:

    RANK=0 WORLD_SIZE=2 MASTER_ADDR=node0 MASTER_PORT=29500 /usr/bin/python3 scripts/ddp_finetune.py ...   # node0
    RANK=1 WORLD_SIZE=2 MASTER_ADDR=node0 MASTER_PORT=29500 /usr/bin/python3 scripts/ddp_finetune.py ...   # node1

torchrun sets the same variables (torchrun --nnodes 2 --nproc_per_node 1 --node_rank R
--master_addr node0 --master_port 29500 scripts/ddp_finetune.py ...), but Debian 12's
torchrun (PyTorch 1.13 on Python 3.11) fails before starting any worker
("AttributeError: 'NoneType' object has no attribute 'get'" in to_map); the variables
above work with it.

Every rank reads its DistributedSampler shard of the data; gradients are averaged by DDP
(all-reduce over gloo); BatchNorm running statistics are those of rank 0 (DDP broadcasts
buffers). Rank 0 writes --out (every tensor of the input file, updated, same metadata)
and prints one JSON line per step ({"step", "loss"}: the loss averaged over the ranks)
and a last one {"first_loss", "last_loss", "train_accuracy", ...}: train_accuracy is
the fine-tuned model's accuracy in eval mode on the whole folder.
"""
import argparse
import datetime
import json
import os
import random
import socket
import struct
import sys

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from PIL import Image
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset
from torch.utils.data.distributed import DistributedSampler

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_safetensors_torch import ResNet  # noqa: E402
from load_safetensors import load_safetensors  # noqa: E402

IMAGE_EXTS = (".png", ".jpg", ".jpeg")

ST_DTYPES = {torch.float32: "F32", torch.float64: "F64", torch.float16: "F16", torch.bfloat16: "BF16",
             torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
             torch.bool: "BOOL"}


def save_safetensors(path, state, meta):
    """Writes {name: tensor} and the string metadata as a safetensors file (atomically:
    a temporary file renamed over path)."""
    header, offset, blobs = {}, 0, []
    for name in sorted(state):
        t = state[name].detach().contiguous().cpu()
        b = t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.view(torch.int16).numpy().tobytes()
        header[name] = {"dtype": ST_DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    header["__metadata__"] = {k: str(v) for k, v in meta.items()}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)  # the data section starts 8-byte aligned
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class FolderDataset(Dataset):
    """<class>/<image> files, labels in the model's class order, preprocessed like residual."""

    def __init__(self, root, classes, pre):
        self.samples = []
        index = {c: i for i, c in enumerate(classes)}
        for name in sorted(os.listdir(root)):
            d = os.path.join(root, name)
            if not os.path.isdir(d):
                continue
            if name not in index:
                raise SystemExit(f"{d}: class folder {name!r} is not one of the model's classes {classes}")
            for f in sorted(os.listdir(d)):
                if f.lower().endswith(IMAGE_EXTS):
                    self.samples.append((os.path.join(d, f), index[name]))
        if not self.samples:
            raise SystemExit(f"{root}: no images in <class>/ subfolders")
        self.w, self.h, self.c = pre["width"], pre["height"], pre["channels"]
        self.mean = np.array(pre.get("mean") or [0.0] * self.c, dtype=np.float32).reshape(self.c, 1, 1)
        self.std = np.array(pre.get("std") or [1.0] * self.c, dtype=np.float32).reshape(self.c, 1, 1)

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, i):
        path, label = self.samples[i]
        try:
            img = Image.open(path).convert("L" if self.c == 1 else "RGB")
        except OSError as e:
            raise SystemExit(f"{path}: {e}")
        if img.size != (self.w, self.h):
            img = img.resize((self.w, self.h), Image.BILINEAR)
        x = np.asarray(img, dtype=np.float32).reshape(self.h, self.w, self.c).transpose(2, 0, 1) / 255.0
        return torch.from_numpy((x - self.mean) / self.std), label


def build(weights):
    state, meta = load_safetensors(weights)
    for key in ("config", "classes", "preprocess"):
        if key not in meta:
            raise SystemExit(f"{weights}: no {key!r} in the metadata: export it with `residual export --format safetensors`")
    cfg = json.loads(meta["config"])
    if cfg.get("layout", "torchvision") != "torchvision" or cfg.get("dropout"):
        raise SystemExit(f"{weights}: config {cfg}: only the torchvision layout without dropout has a PyTorch module here")
    net = ResNet(cfg)
    net.load_state_dict(state)  # strict: every name and shape must match
    return net, state, meta


def worker(rank, world, args):
    torch.manual_seed(args.seed)  # same initial state everywhere (DDP broadcasts rank 0's anyway)
    random.seed(args.seed)
    torch.set_num_threads(args.threads)
    init = None if "MASTER_ADDR" in os.environ and "RANK" in os.environ else f"tcp://127.0.0.1:{args.port}"
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world, timeout=datetime.timedelta(seconds=120))
    net, state, meta = build(args.weights)
    data = FolderDataset(args.data, json.loads(meta["classes"]), json.loads(meta["preprocess"]))
    sampler = DistributedSampler(data, num_replicas=world, rank=rank, shuffle=True, seed=args.seed, drop_last=False)
    loader = DataLoader(data, batch_size=args.batch, sampler=sampler, num_workers=0)
    model = DistributedDataParallel(net)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, weight_decay=args.weight_decay)
    losses, step, epoch = [], 0, 0
    model.train()
    while step < args.steps:
        sampler.set_epoch(epoch)
        for x, y in loader:
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()  # DDP all-reduces (averages) the gradients here
            opt.step()
            mean = loss.detach().clone()
            dist.all_reduce(mean)
            mean /= world
            losses.append(float(mean))
            if rank == 0:
                print(json.dumps({"step": step + 1, "loss": losses[-1]}), flush=True)
            step += 1
            if step == args.steps:
                break
        epoch += 1
    if rank == 0:
        out = {k: v for k, v in net.state_dict().items()}
        missing = set(state) - set(out)
        if missing:
            raise SystemExit(f"tensors of {args.weights} missing from the PyTorch module: {sorted(missing)}")
        save_safetensors(args.out, out, meta)
        net.eval()
        correct = 0
        with torch.no_grad():
            for x, y in DataLoader(data, batch_size=64):
                correct += int((net(x).argmax(1) == y).sum())
        print(json.dumps({"first_loss": losses[0], "last_loss": losses[-1], "steps": step, "processes": world,
                          "images": len(data), "train_accuracy": correct / len(data), "out": args.out}), flush=True)
    dist.barrier()
    dist.destroy_process_group()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", required=True, help="safetensors file from `residual export --format safetensors`")
    ap.add_argument("--data", required=True, help="image folder: <class>/<image>")
    ap.add_argument("--out", required=True, help="safetensors file to write (for `residual import`)")
    ap.add_argument("--nproc", type=int, default=2, help="processes on this machine (ignored under torchrun)")
    ap.add_argument("--steps", type=int, default=50, help="optimizer steps")
    ap.add_argument("--batch", type=int, default=16, help="batch size per process")
    ap.add_argument("--lr", type=float, default=0.01, help="SGD learning rate (momentum 0.9)")
    ap.add_argument("--weight-decay", type=float, default=0.0, help="SGD weight decay")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per process")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    for name in ("nproc", "steps", "batch", "threads"):
        if getattr(args, name) < 1:
            raise SystemExit(f"--{name} {getattr(args, name)}: must be at least 1")
    if not args.lr > 0 or args.weight_decay < 0:
        raise SystemExit(f"--lr {args.lr} must be positive and --weight-decay {args.weight_decay} not negative")
    build(args.weights)  # fail here, once, on a bad file
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ:  # torchrun
        worker(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), args)
        return
    args.port = free_port()
    mp.spawn(worker, args=(args.nproc, args), nprocs=args.nproc, join=True)


if __name__ == "__main__":
    main()
