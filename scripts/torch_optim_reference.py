#!/usr/bin/python3
"""Writes optim/testdata/torch_optim.json: PyTorch's SGD (momentum, Nesterov,
weight decay) and AdamW updates on a fixed parameter and gradient sequence.

    /usr/bin/python3 scripts/torch_optim_reference.py
"""
import json
import torch

torch.manual_seed(0)
w0 = torch.randn(6)
grads = [torch.randn(6) for _ in range(4)]
lrs = [0.1, 0.05, 0.02, 0.01]
cases = {
    "sgd": (torch.optim.SGD, dict(lr=0.1)),
    "sgd_momentum_wd": (torch.optim.SGD, dict(lr=0.1, momentum=0.9, weight_decay=5e-4)),
    "sgd_nesterov_wd": (torch.optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)),
    "adamw": (torch.optim.AdamW, dict(lr=0.1, weight_decay=0.01)),
    "adamw_betas": (torch.optim.AdamW, dict(lr=0.1, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.05)),
}
out = {"w0": w0.tolist(), "grads": [g.tolist() for g in grads], "lrs": lrs, "cases": {}}
for name, (cls, kw) in cases.items():
    p = torch.nn.Parameter(w0.clone())
    opt = cls([p], **kw)
    steps = []
    for g, lr in zip(grads, lrs):
        for group in opt.param_groups:
            group["lr"] = lr
        p.grad = g.clone()
        opt.step()
        steps.append(p.detach().tolist())
    out["cases"][name] = {"options": {k: (list(v) if isinstance(v, tuple) else v) for k, v in kw.items()}, "steps": steps}
with open("optim/testdata/torch_optim.json", "w") as f:
    json.dump(out, f, indent=1)
print("wrote optim/testdata/torch_optim.json")
