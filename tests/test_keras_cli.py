"""`python -m fastconv train`: the seed model on the bundled digits, in process (one short epoch)."""

import re

import pytest

from fastconv.cli import build_parser, main


def test_train_parser_defaults():
    args = build_parser().parse_args(["train"])
    assert (args.epochs, args.batch_size, args.seed, args.logits, args.compare_torch) == (5, 32, 0, False, False)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--epochs", "0"])


def test_train_one_epoch(capsys):
    assert main(["train", "--epochs", "1", "--verbose", "2", "--logits", "--batch-size", "64"]) == 0
    out = capsys.readouterr().out
    assert "Epoch 1/1" in out and re.search(r"22/22 - .* - accuracy: 0\.\d+ - loss: \d\.\d+", out)
    acc = float(re.search(r"test accuracy: (0\.\d+) \(397 digits\)", out).group(1))
    assert acc > 0.3  # one epoch of 22 steps from a random start (chance is 0.1)
    assert re.search(r"seconds per epoch: median \d+\.\d+ s", out)


def test_train_compare_torch(capsys):
    pytest.importorskip("torch")
    assert main(["train", "--epochs", "1", "--verbose", "0", "--batch-size", "128", "--logits", "--compare-torch"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"PyTorch .* CPU, \d+ threads, same model", out)
    assert re.search(r"fastconv is \d+\.\d+x (faster|slower) per epoch", out)
