"""fastconv.keras against Keras 3 (the oracle, on its PyTorch backend) and plain PyTorch CPU, on the
Keras seed CNN trained on the bundled digits (1,400 train / 397 test, 28x28x1, batch 32, Adam).

Semantics: parameter counts and output shapes per layer; the initial loss and the per-epoch training
loss; test accuracy after --epochs epochs, medians over --seeds seeds, for the program verbatim
(softmax output + SparseCategoricalCrossentropy(from_logits=True)) and for the logits variant.
Speed: seconds per training epoch, the three frameworks interleaved epoch by epoch in this process
(same thread count), medians; and, with --cpu-time, the same at one thread as process CPU time (robust
to other processes on a shared machine).

--fresh-runs N trains the program as a user runs it: each run a new process, no seed set anywhere,
N runs per framework and variant, alternating Keras and fastconv; it prints the medians, quartiles and
a bootstrap 95 % interval of the difference of medians. Seeded runs (--seeds) compare one particular
family of initial weights and batch orders per framework: Keras derives both from one seed, and over
31 seeds its verbatim median was 0.738 against 0.772 over 40 unseeded runs (benchmarks/RESULTS.md).

    pip install keras   # Keras 3; runs on torch with KERAS_BACKEND=torch (set here)
    python benchmarks/keras_compare.py [--seeds 3] [--epochs 5] [--timing-epochs 6] [--cpu-time]
    python benchmarks/keras_compare.py --fresh-runs 40 --skip-semantics --skip-timing
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

os.environ["KERAS_BACKEND"] = "torch"
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402

import fastconv  # noqa: E402
from fastconv.cli.train import seed_model, torch_seed_model, torch_train_epoch  # noqa: E402
from fastconv.keras import datasets, losses as fc_losses, utils as fc_utils  # noqa: E402


def keras_seed_model(keras, logits: bool):
    from keras import layers, models

    model = models.Sequential()
    model.add(layers.Input((28, 28, 1)))
    model.add(layers.Conv2D(32, (3, 3), activation="relu"))
    model.add(layers.MaxPooling2D((2, 2)))
    model.add(layers.Conv2D(64, (3, 3), activation="relu"))
    model.add(layers.MaxPooling2D((2, 2)))
    model.add(layers.Conv2D(64, (3, 3), activation="relu"))
    model.add(layers.Flatten())
    model.add(layers.Dense(64, activation="relu"))
    model.add(layers.Dense(10, activation=None if logits else "softmax"))
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


def fastconv_seed_model(logits: bool):
    model = seed_model(logits)
    model.compile(optimizer="adam", loss=fc_losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


def semantics(keras, data, seeds, epochs):
    (x_train, y_train), (x_test, y_test) = data
    rows = {}
    for logits in (False, True):
        for name in ("keras", "fastconv"):
            accs, init_losses, curves = [], [], []
            for seed in seeds:
                if name == "keras":
                    keras.utils.set_random_seed(seed)
                    model = keras_seed_model(keras, logits)
                else:
                    fc_utils.set_random_seed(seed)
                    model = fastconv_seed_model(logits)
                init_losses.append(model.evaluate(x_train, y_train, verbose=0)[0])
                h = model.fit(x_train, y_train, batch_size=32, epochs=epochs, verbose=0)
                curves.append(h.history["loss"])
                accs.append(model.evaluate(x_test, y_test, verbose=0)[1])
            rows[(logits, name)] = (accs, init_losses, np.median(np.array(curves), axis=0))
            print(f"  {'logits ' if logits else 'verbatim'} {name:8s}: test accuracy {', '.join(f'{a:.4f}' for a in accs)}"
                  f" (median {statistics.median(accs):.4f}); initial loss median {statistics.median(init_losses):.4f}; "
                  f"loss per epoch (median) {', '.join(f'{v:.4f}' for v in rows[(logits, name)][2])}",
                  file=sys.stderr, flush=True)
    return rows


def controlled(keras, data, seeds, epochs):
    """Both frameworks from Keras's initial weights (set_weights) on the same batches: each epoch one
    permutation from a seeded NumPy generator, fed to both with shuffle=False."""
    (x_train, y_train), (x_test, y_test) = data
    rows = {}
    for logits in (False, True):
        k_acc, f_acc = [], []
        for seed in seeds:
            keras.utils.set_random_seed(seed)
            k_model = keras_seed_model(keras, logits)
            f_model = fastconv_seed_model(logits)
            f_model.set_weights(k_model.get_weights())
            rng = np.random.default_rng(1000 + seed)
            for _ in range(epochs):
                order = rng.permutation(len(x_train))
                k_model.fit(x_train[order], y_train[order], batch_size=32, epochs=1, shuffle=False, verbose=0)
                f_model.fit(x_train[order], y_train[order], batch_size=32, epochs=1, shuffle=False, verbose=0)
            k_acc.append(k_model.evaluate(x_test, y_test, verbose=0)[1])
            f_acc.append(f_model.evaluate(x_test, y_test, verbose=0)[1])
            print(f"  controlled {'logits ' if logits else 'verbatim'} seed {seed}: Keras {k_acc[-1]:.4f}, fastconv "
                  f"{f_acc[-1]:.4f}", file=sys.stderr, flush=True)
        rows[logits] = (k_acc, f_acc)
    return rows


def one_run(framework: str, logits: bool, epochs: int) -> float:
    """The program with only its imports changed, unseeded, at one thread; the test accuracy."""
    if framework == "keras":
        import keras
        import torch

        torch.set_num_threads(1)
        model = keras_seed_model(keras, logits)
    else:
        fastconv.set_num_threads(1)
        model = fastconv_seed_model(logits)
    (x_train, y_train), (x_test, y_test) = datasets.digits.load_data()
    model.fit(x_train, y_train, epochs=epochs, verbose=0)
    return float(model.evaluate(x_test, y_test, verbose=0)[1])


def fresh_runs(runs: int, epochs: int) -> None:
    print(f"\n## Unseeded runs, each a new process, {epochs} epochs (batch 32, Adam), {runs} per framework and "
          f"variant\n")
    print("| variant | framework | runs | quartiles of test accuracy (25 %, median, 75 %) | fastconv - Keras "
          "median, bootstrap 95 % |\n|---|---|---|---|---|")
    for variant in ("verbatim", "logits"):
        acc = {"keras": [], "fastconv": []}
        for _ in range(runs):
            for framework in acc:
                out = subprocess.run([sys.executable, __file__, "--one-run", framework, variant, "--epochs", str(epochs)],
                                     capture_output=True, text=True, check=True).stdout
                acc[framework].append(float(out.split()[-1]))
        rng = np.random.default_rng(0)
        k, f = np.array(acc["keras"]), np.array(acc["fastconv"])
        boot = [np.median(rng.choice(f, f.size)) - np.median(rng.choice(k, k.size)) for _ in range(10000)]
        lo, hi = np.percentile(boot, [2.5, 97.5])
        for framework, a in acc.items():
            q = np.percentile(a, [25, 50, 75])
            extra = (f"{np.median(f) - np.median(k):+.3f} [{lo:+.3f}, {hi:+.3f}]" if framework == "fastconv" else "")
            print(f"| {variant} | {framework} | {len(a)} | {q[0]:.3f}, {q[1]:.3f}, {q[2]:.3f} | {extra} |", flush=True)


def timing(keras, torch, data, epochs, threads, clock):
    """Seconds per epoch, interleaved: fastconv, torch, Keras, fastconv, ...; the first epoch of each is
    warm-up and dropped."""
    (x_train, y_train), _ = data
    fastconv.set_num_threads(threads)
    torch.set_num_threads(threads)
    fc_utils.set_random_seed(0)
    fc_model = fastconv_seed_model(True)
    net = torch_seed_model(torch, fc_model, True)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7)
    keras.utils.set_random_seed(0)
    k_model = keras_seed_model(keras, True)
    xt, yt = torch.from_numpy(x_train), torch.from_numpy(y_train.astype(np.int64))
    rng = np.random.default_rng(0)
    times = {"fastconv": [], "torch": [], "keras": []}
    for epoch in range(epochs + 1):
        t = clock()
        fc_model.fit(x_train, y_train, batch_size=32, epochs=1, verbose=0)
        t_fc = clock() - t
        t = clock()
        torch_train_epoch(torch, net, opt, xt, yt, 32, rng)
        t_torch = clock() - t
        t = clock()
        k_model.fit(x_train, y_train, batch_size=32, epochs=1, verbose=0)
        t_keras = clock() - t
        if epoch:
            times["fastconv"].append(t_fc)
            times["torch"].append(t_torch)
            times["keras"].append(t_keras)
    return {k: statistics.median(v) for k, v in times.items()}, times


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--timing-epochs", type=int, default=6)
    ap.add_argument("--cpu-time", action="store_true", help="also time at one thread in process CPU time")
    ap.add_argument("--skip-semantics", action="store_true")
    ap.add_argument("--skip-timing", action="store_true")
    ap.add_argument("--controlled", action="store_true",
                    help="also train both from Keras's initial weights on the same batch order (seeds as --seeds)")
    ap.add_argument("--fresh-runs", type=int, default=0,
                    help="also train N unseeded runs per framework and variant, each in a new process")
    ap.add_argument("--one-run", nargs=2, metavar=("FRAMEWORK", "VARIANT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one_run:
        framework, variant = args.one_run
        print(one_run(framework, variant == "logits", args.epochs))
        return

    import keras
    import torch

    data = datasets.digits.load_data()
    threads = fastconv.get_num_threads()
    print(f"# fastconv.keras vs Keras {keras.__version__} (backend {keras.backend.backend()}) vs PyTorch "
          f"{torch.__version__} CPU; fastconv {fastconv.__version__} at commit {_commit()}; {threads} threads; "
          f"load average at start {_load()}")

    k_model = keras_seed_model(keras, False)
    fc_model = fastconv_seed_model(False)
    k_rows = [(type(l).__name__, tuple(l.output.shape), l.count_params()) for l in k_model.layers]
    fc_rows = [(type(l).__name__, (None,) + tuple(l.output_shape), l.count_params()) for l in fc_model.layers]
    print("\n## Structure (layer, output shape, parameters)\n")
    print("| layer | Keras | fastconv.keras |\n|---|---|---|")
    for (kn, ks, kp), (fn, fs, fp) in zip(k_rows, fc_rows):
        print(f"| {kn} | {ks} {kp:,} | {fs} {fp:,} |")
    print(f"| total | {k_model.count_params():,} | {fc_model.count_params():,} |")
    assert k_rows == fc_rows, "structure differs from Keras"
    (x_train, y_train), _ = data
    fc_model.set_weights(k_model.get_weights())  # same layouts: Keras's get_weights() loads as is
    diff = np.abs(k_model.predict(x_train[:256], verbose=0) - fc_model.predict(x_train[:256], verbose=0)).max()
    k_loss = k_model.evaluate(x_train[:256], y_train[:256], verbose=0)[0]
    f_loss = fc_model.evaluate(x_train[:256], y_train[:256], verbose=0)[0]
    print(f"\nKeras's initial weights loaded into fastconv.keras with set_weights: max |prediction difference| "
          f"{diff:.2e} on 256 digits; loss {k_loss:.6f} (Keras) vs {f_loss:.6f} (fastconv)")

    if not args.skip_semantics:
        seeds = list(range(args.seeds))
        rows = semantics(keras, data, seeds, args.epochs)
        print(f"\n## Accuracy after {args.epochs} epochs (batch 32, Adam), seeds {seeds}\n")
        print("| variant | framework | test accuracy per seed | median | initial loss (median) | "
              "training loss per epoch (median over seeds) |\n|---|---|---|---|---|---|")
        for (logits, name), (accs, init, curve) in rows.items():
            print(f"| {'logits' if logits else 'verbatim (softmax + from_logits)'} | {name} | "
                  f"{', '.join(f'{a:.4f}' for a in accs)} | {statistics.median(accs):.4f} | "
                  f"{statistics.median(init):.4f} | {', '.join(f'{v:.3f}' for v in curve)} |")
        for logits in (False, True):
            diff = statistics.median(rows[(logits, 'fastconv')][0]) - statistics.median(rows[(logits, 'keras')][0])
            print(f"\n{'logits' if logits else 'verbatim'}: fastconv median - Keras median = {diff:+.4f} "
                  f"({'within' if abs(diff) <= 0.03 else 'outside'} 0.03)")

    if args.controlled:
        seeds = list(range(args.seeds))
        rows = controlled(keras, data, seeds, args.epochs)
        print(f"\n## Same initial weights (Keras's) and same batch order, {args.epochs} epochs, seeds {seeds}\n")
        print("| variant | Keras test accuracy | fastconv test accuracy | medians (Keras, fastconv) |\n|---|---|---|---|")
        for logits, (k_acc, f_acc) in rows.items():
            print(f"| {'logits' if logits else 'verbatim'} | {', '.join(f'{a:.4f}' for a in k_acc)} | "
                  f"{', '.join(f'{a:.4f}' for a in f_acc)} | {statistics.median(k_acc):.4f}, "
                  f"{statistics.median(f_acc):.4f} |")
    if args.fresh_runs:
        fresh_runs(args.fresh_runs, args.epochs)
    if args.skip_timing:
        return
    print(f"\n## Seconds per epoch (1,400 images, batch 32, logits variant), interleaved, medians of "
          f"{args.timing_epochs} epochs after one warm-up\n")
    print("| clock | threads | fastconv.keras | PyTorch | Keras (torch) | PyTorch / fastconv | Keras / fastconv |\n"
          "|---|---|---|---|---|---|---|")
    runs = [("wall", threads, time.perf_counter)]
    if args.cpu_time:
        runs.append(("process CPU", 1, time.process_time))
    for label, thr, clock in runs:
        med, _ = timing(keras, torch, data, args.timing_epochs, thr, clock)
        print(f"| {label} | {thr} | {med['fastconv']:.3f} s | {med['torch']:.3f} s | {med['keras']:.3f} s | "
              f"{med['torch'] / med['fastconv']:.2f}x | {med['keras'] / med['fastconv']:.2f}x |", flush=True)
    print(f"\nload average at end {_load()}")


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=os.path.dirname(os.path.abspath(__file__))).stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def _load() -> str:
    return ", ".join(f"{v:.2f}" for v in os.getloadavg())


if __name__ == "__main__":
    main()
