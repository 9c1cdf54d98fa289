#!/usr/bin/python3
"""Reads a safetensors file with the standard library and torch only (no `safetensors` package).

    from load_safetensors import load_safetensors
    state, meta = load_safetensors("model.safetensors")   # {name: tensor}, {__metadata__}
    module.load_state_dict(state)

Format: an 8-byte little-endian header length N, N bytes of JSON
{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}},
then the data section, offsets relative to its start.
"""
import json
import struct
import sys

import torch

DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8,
    "U8": torch.uint8, "BOOL": torch.bool,
}


def load_safetensors(path):
    """Returns ({name: torch.Tensor}, metadata dict) of the file at path."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    data = bytearray(raw[8 + n:])  # writable, so torch.frombuffer does not warn
    state = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        dtype = DTYPES[info["dtype"]]
        if end == begin:
            t = torch.empty(0, dtype=dtype)
        else:
            t = torch.frombuffer(data, dtype=dtype, count=(end - begin) // torch.tensor([], dtype=dtype).element_size(), offset=begin)
        state[name] = t.reshape(info["shape"]).clone()
    return state, meta


if __name__ == "__main__":
    state, meta = load_safetensors(sys.argv[1])
    for k, v in state.items():
        print(k, v.dtype, tuple(v.shape))
    print(meta)
