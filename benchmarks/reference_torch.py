"""The default MLP trained by PyTorch on the CPU, as a speed reference.

Run by ``train_mlp.py --torch-python PATH`` in an interpreter that has torch; reads the
cached MNIST IDX files with NumPy only. Same model (784-256-128-10, ReLU), same loss,
SGD with momentum 0.9, batch 128, shuffled every epoch, 55 000 training examples, two
threads. Prints one JSON line.

With ``--serve`` it trains one epoch per line read on stdin and answers each with one
JSON line (``{"seconds": ...}``), after a first ``{"ready": ...}`` line once the data and
model are set up: ``train_mlp.py`` runs a PyTorch epoch after each of its own, so each
ratio pairs two epochs seconds apart rather than two runs minutes apart.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from arguments import at_least


def read_idx(path: Path) -> np.ndarray:
    raw = path.read_bytes()
    ndim = raw[3]
    dims = np.frombuffer(raw, ">u4", count=ndim, offset=4)
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=at_least(1), default=5)
    parser.add_argument("--threads", type=at_least(1), default=2)
    parser.add_argument("--serve", action="store_true", help="one epoch per line read on stdin (see above)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    root = Path(os.environ.get("HARNESS_DATA_DIR") or Path.home() / ".cache" / "harness") / "mnist"
    x = torch.from_numpy(read_idx(root / "train-images-idx3-ubyte")[:55_000].reshape(55_000, -1).astype(np.float32) / 255)
    y = torch.from_numpy(read_idx(root / "train-labels-idx1-ubyte")[:55_000].astype(np.int64))
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()

    def epoch() -> float:
        start = time.perf_counter()
        order = torch.randperm(len(y))
        for i in range(0, len(y), 128):
            index = order[i:i + 128]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x[index]), y[index])
            loss.backward()
            optimizer.step()
        return time.perf_counter() - start

    about = {"torch": torch.__version__, "threads": torch.get_num_threads()}
    if args.serve:
        print(json.dumps({"ready": True, **about}), flush=True)
        for _ in sys.stdin:
            print(json.dumps({"seconds": epoch()}), flush=True)
        return
    times = [epoch() for _ in range(args.epochs)]
    print(json.dumps({"sec_per_epoch": round(statistics.median(times), 4), "epochs": times, **about}))


if __name__ == "__main__":
    main()
