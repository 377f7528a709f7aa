"""``fastconv train``: the Keras seed model (a small CNN) trained on the bundled 8x8 digits upsampled to
28x28, with Keras's progress bar, the test accuracy and the seconds per epoch; ``--compare-torch``
trains the same model (same initial weights, data, batch and epochs) in PyTorch on the CPU after it."""

from __future__ import annotations

import argparse
import os
import statistics
import time
import warnings
from typing import List


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="train the Keras seed CNN on the bundled digits with fastconv.keras",
                       description="Train the Keras MNIST CNN (Conv2D 32-MaxPool-Conv2D 64-MaxPool-Conv2D 64-Flatten-"
                                   "Dense 64-Dense 10, 93,322 parameters) with fastconv.keras on the 1,400 bundled "
                                   "training digits (8x8 upsampled to 28x28x1), Adam, sparse categorical "
                                   "cross-entropy with from_logits=True, as the Keras program has it; then report the "
                                   "accuracy on the 397 test digits and the seconds per epoch.")
    p.add_argument("--epochs", type=_positive, default=5, help="passes over the training data (default 5)")
    p.add_argument("--batch-size", type=_positive, default=32, help="batch size (default 32)")
    p.add_argument("--seed", type=int, default=0, help="random seed for weights and shuffling (default 0)")
    p.add_argument("--logits", action="store_true",
                   help="last layer without softmax (the program verbatim puts a softmax before a from_logits loss, "
                        "which Keras warns about and which trains slower)")
    p.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1,
                   help="1: a progress bar per epoch (default); 2: one line per epoch; 0: silent")
    p.add_argument("--threads", type=_positive, default=None, help="CPU threads for fastconv (and torch)")
    p.add_argument("--compare-torch", action="store_true",
                   help="also train the same model (same initial weights) in PyTorch CPU and compare seconds per epoch")
    p.set_defaults(run=run)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def seed_model(logits: bool):
    from ..keras import layers, models

    last = None if logits else "softmax"
    return models.Sequential([
        layers.Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1)),
        layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3), activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3), activation="relu"),
        layers.Flatten(),
        layers.Dense(64, activation="relu"),
        layers.Dense(10, activation=last),
    ])


def torch_seed_model(torch, model, logits: bool):
    """The same network in PyTorch with the fastconv.keras model's weights; takes NHWC input and
    flattens in H, W, C order, as Keras does."""
    nn = torch.nn

    class SeedCNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 32, 3)
            self.conv2 = nn.Conv2d(32, 64, 3)
            self.conv3 = nn.Conv2d(64, 64, 3)
            self.fc1 = nn.Linear(576, 64)
            self.fc2 = nn.Linear(64, 10)

        def forward(self, x):
            f = torch.nn.functional
            x = x.permute(0, 3, 1, 2)
            x = f.max_pool2d(f.relu(self.conv1(x)), 2)
            x = f.max_pool2d(f.relu(self.conv2(x)), 2)
            x = f.relu(self.conv3(x))
            x = x.permute(0, 2, 3, 1).flatten(1)
            x = self.fc2(f.relu(self.fc1(x)))
            return x if logits else torch.softmax(x, -1)

    net = SeedCNN()
    weights = model.get_weights()
    with torch.no_grad():
        for i, module in enumerate((net.conv1, net.conv2, net.conv3, net.fc1, net.fc2)):
            kernel, bias = weights[2 * i], weights[2 * i + 1]
            w = kernel.transpose(3, 2, 0, 1) if kernel.ndim == 4 else kernel.T  # Keras -> torch layout
            module.weight.copy_(torch.from_numpy(w.copy()))
            module.bias.copy_(torch.from_numpy(bias))
    return net


def torch_train_epoch(torch, net, opt, x, y, batch_size: int, rng) -> float:
    """One epoch (shuffled) of Adam on cross-entropy of the outputs as logits; returns seconds."""
    start = time.perf_counter()
    order = torch.from_numpy(rng.permutation(len(x)))
    for i in range(0, len(x), batch_size):
        idx = order[i:i + batch_size]
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(net(x[idx]), y[idx])
        loss.backward()
        opt.step()
    return time.perf_counter() - start


def torch_accuracy(torch, net, x, y) -> float:
    with torch.no_grad():
        return float((net(x).argmax(-1) == y).float().mean())


def run(args) -> int:
    import numpy as np

    import fastconv
    from ..keras import datasets, losses, utils

    if args.threads:
        fastconv.set_num_threads(args.threads)
    torch = None
    if args.compare_torch:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle torch workers must not spin on our cores
        try:
            import torch
        except ImportError:
            print("--compare-torch: PyTorch is not installed; training fastconv only")
    (x_train, y_train), (x_test, y_test) = datasets.digits.load_data()
    utils.set_random_seed(args.seed)
    model = seed_model(args.logits)
    model.compile(optimizer="adam", loss=losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    net = opt = None
    if torch is not None:
        torch.set_num_threads(fastconv.get_num_threads())
        net = torch_seed_model(torch, model, args.logits)
        opt = torch.optim.Adam(net.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-7)
    if args.verbose:
        print(f"fastconv {fastconv.__version__}, {fastconv.get_num_threads()} threads: the Keras seed CNN "
              f"({model.count_params():,} parameters) on {len(x_train)} digits, {args.epochs} epochs, "
              f"batch {args.batch_size}, {'logits' if args.logits else 'softmax output'}")
    history = model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs, verbose=args.verbose)
    with warnings.catch_warnings():  # fit has said it once
        warnings.simplefilter("ignore", UserWarning)
        _, acc = model.evaluate(x_test, y_test, verbose=0)
    fc_times = history.epoch_seconds
    print(f"test accuracy: {acc:.4f} ({len(x_test)} digits)")
    print(f"seconds per epoch: {_describe(fc_times)}")
    if torch is not None:
        xt, yt = torch.from_numpy(x_train), torch.from_numpy(y_train.astype(np.int64))
        rng = np.random.default_rng(args.seed)
        times = [torch_train_epoch(torch, net, opt, xt, yt, args.batch_size, rng) for _ in range(args.epochs)]
        torch_acc = torch_accuracy(torch, net, torch.from_numpy(x_test), torch.from_numpy(y_test.astype(np.int64)))
        ratio = statistics.median(times) / statistics.median(fc_times)
        print(f"PyTorch {torch.__version__} CPU, {torch.get_num_threads()} threads, same model, initial weights, "
              f"data and batch, trained after fastconv: test accuracy {torch_acc:.4f}, seconds per epoch: "
              f"{_describe(times)}")
        print(f"fastconv is {ratio:.2f}x {'faster' if ratio >= 1 else 'slower'} per epoch (medians; the machine's "
              f"load average was {_load()})")
    return 0


def _describe(times: List[float]) -> str:
    return f"median {statistics.median(times):.3f} s ({', '.join(f'{t:.3f}' for t in times)})"


def _load() -> str:
    try:
        return ", ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "unknown"
