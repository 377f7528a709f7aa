"""fastconv.keras.Sequential: Keras's parameter counts and shapes, a short training run that must
learn, save/load, fit's Keras semantics (validation split, History, progress lines, optimizers),
the softmax/from_logits warning and clear errors for bad input."""

import io
import warnings

import numpy as np
import pytest

from fastconv.keras import datasets, layers, losses, models, optimizers, utils


def seed_model(logits=False, dtype=None):
    """The program of the issue (Keras's MNIST CNN)."""
    model = models.Sequential()
    model.add(layers.Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1), dtype=dtype))
    model.add(layers.MaxPooling2D((2, 2), dtype=dtype))
    model.add(layers.Conv2D(64, (3, 3), activation="relu", dtype=dtype))
    model.add(layers.MaxPooling2D((2, 2), dtype=dtype))
    model.add(layers.Conv2D(64, (3, 3), activation="relu", dtype=dtype))
    model.add(layers.Flatten(dtype=dtype))
    model.add(layers.Dense(64, activation="relu", dtype=dtype))
    model.add(layers.Dense(10, activation=None if logits else "softmax", dtype=dtype))
    return model


@pytest.fixture(scope="module")
def digits():
    return datasets.digits.load_data()


def small_model(**kw):
    return models.Sequential([layers.InputLayer(shape=(6, 6, 1)), layers.Conv2D(2, 3, activation="relu"),
                              layers.Flatten(), layers.Dense(3)], **kw)


# --------------------------------------------------------------------------- structure (Keras's numbers)

KERAS_SUMMARY = [  # keras 3.15, KERAS_BACKEND=torch: model.summary() of the seed program
    ("Conv2D", (None, 26, 26, 32), 320),
    ("MaxPooling2D", (None, 13, 13, 32), 0),
    ("Conv2D", (None, 11, 11, 64), 18496),
    ("MaxPooling2D", (None, 5, 5, 64), 0),
    ("Conv2D", (None, 3, 3, 64), 36928),
    ("Flatten", (None, 576), 0),
    ("Dense", (None, 64), 36928),
    ("Dense", (None, 10), 650),
]


def test_summary_matches_keras():
    model = seed_model()
    assert model.count_params() == 93322
    got = [(type(layer).__name__, (None,) + layer.output_shape, layer.count_params()) for layer in model.layers]
    assert got == KERAS_SUMMARY
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert f'Model: "{model.name}"' in text
    assert "Total params: 93,322 (364.54 KB)" in text
    assert "Trainable params: 93,322 (364.54 KB)" in text
    for cls, shape, params in KERAS_SUMMARY:
        assert any(f"({cls})" in line and str(shape) in line and f"{params:,}" in line for line in lines)
    assert [w.shape for w in model.weights] == [(3, 3, 1, 32), (32,), (3, 3, 32, 64), (64,), (3, 3, 64, 64), (64,),
                                                 (576, 64), (64,), (64, 10), (10,)]


def test_keras_layer_names():
    model = models.Sequential([layers.Conv2D(2, 3), layers.MaxPooling2D(), layers.Conv2D(2, 1)])
    names = [layer.name for layer in model.layers]
    assert names[0].startswith("conv2d") and names[1].startswith("max_pooling2d")
    assert names[0] != names[2]


def test_unbuilt_model_builds_on_first_call():
    model = models.Sequential([layers.Dense(4), layers.Dense(2)])
    assert not model.built
    lines = []
    model.summary(print_fn=lines.append)
    assert any("0 (unbuilt)" in line for line in lines)
    model.compile(optimizer="sgd", loss="mse")
    y = model.predict(np.ones((3, 5)), verbose=0)
    assert y.shape == (3, 2) and y.dtype == np.float32
    assert model.count_params() == 5 * 4 + 4 + 4 * 2 + 2


# --------------------------------------------------------------------------- training

def test_training_learns_digits(digits):
    """The seed model with logits, Adam, 3 epochs on the 1,400 bundled digits: >= 85 % test accuracy."""
    (x_train, y_train), (x_test, y_test) = digits
    utils.set_random_seed(0)
    model = seed_model(logits=True)
    model.compile(optimizer="adam", loss=losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    history = model.fit(x_train, y_train, epochs=3, verbose=0)
    assert list(history.history) == ["accuracy", "loss"]
    loss = history.history["loss"]
    assert len(loss) == 3 and loss[0] > loss[1] > loss[2]
    assert loss[0] < 2.5  # starts near log(10) = 2.30
    test_loss, test_acc = model.evaluate(x_test, y_test, verbose=0)
    assert test_acc >= 0.85, test_acc


def test_seed_makes_runs_reproducible(digits):
    (x_train, y_train), _ = digits
    runs = []
    for _ in range(2):
        utils.set_random_seed(7)
        model = seed_model(logits=True)
        model.compile(optimizer="adam", loss=losses.SparseCategoricalCrossentropy(from_logits=True))
        h = model.fit(x_train[:96], y_train[:96], epochs=1, verbose=0)
        runs.append((model.get_weights(), h.history["loss"]))
    assert runs[0][1] == runs[1][1]
    for a, b in zip(runs[0][0], runs[1][0]):
        np.testing.assert_array_equal(a, b)


def test_save_load_round_trip(tmp_path, digits):
    (x_train, y_train), (x_test, _) = digits
    utils.set_random_seed(3)
    model = seed_model()
    model.compile(optimizer=optimizers.Adam(learning_rate=2e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x_train[:64], y_train[:64], epochs=1, verbose=0)
    path = tmp_path / "digits.model"
    model.save(path)
    assert path.exists() and not (tmp_path / "digits.model.npz").exists()
    with np.load(path, allow_pickle=False) as f:  # plain arrays, no pickled objects
        assert "config" in f.files
    loaded = models.load_model(path)
    np.testing.assert_array_equal(loaded.predict(x_test[:50], verbose=0), model.predict(x_test[:50], verbose=0))
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
    assert loaded.optimizer.learning_rate == 2e-3 and loaded.optimizer.iterations == model.optimizer.iterations
    # the optimizer state came along: one more identical step gives identical weights
    model.fit(x_train[64:96], y_train[64:96], epochs=1, shuffle=False, verbose=0)
    loaded.fit(x_train[64:96], y_train[64:96], epochs=1, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_save_load_every_layer_kind(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.random((12, 9, 8, 2), dtype=np.float32)
    y = rng.integers(0, 4, 12)
    model = models.Sequential([
        layers.InputLayer(shape=(9, 8, 2)),
        layers.Conv2D(3, 3, strides=2, padding="same", use_bias=False, activation="tanh"),
        layers.AveragePooling2D(2, strides=1, padding="same"),
        layers.ReLU(),
        layers.Conv2D(4, (2, 1), dilation_rate=(1, 1), kernel_initializer="he_uniform"),
        layers.MaxPooling2D((2, 2), padding="same"),
        layers.Dropout(0.25, seed=1),
        layers.GlobalAveragePooling2D(),
        layers.Dense(6, activation="sigmoid"),
        layers.Dense(4),
        layers.Activation("softmax"),
    ], name="every_kind")
    model.compile(optimizer=optimizers.SGD(0.1, momentum=0.9, nesterov=True), loss="sparse_categorical_crossentropy",
                  metrics=["sparse_categorical_accuracy"])
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    model.save(tmp_path / "every.model")
    loaded = models.load_model(tmp_path / "every.model")
    assert loaded.name == "every_kind"
    assert [type(layer).__name__ for layer in loaded.layers] == [type(layer).__name__ for layer in model.layers]
    assert [layer.get_config() for layer in loaded.layers] == [layer.get_config() for layer in model.layers]
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert isinstance(loaded.optimizer, optimizers.SGD) and loaded.optimizer.nesterov
    assert loaded.evaluate(x, y, verbose=0) == model.evaluate(x, y, verbose=0)
    uncompiled = models.load_model(tmp_path / "every.model", compile=False)
    assert not uncompiled.compiled


def test_load_refuses_other_files(tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, x=np.zeros(3))
    with pytest.raises(ValueError, match="not a model saved by fastconv.keras"):
        models.load_model(bad)
    with pytest.raises(FileNotFoundError):
        models.load_model(tmp_path / "missing")
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, config=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError):
        models.load_model(pickled)


def test_validation_split_takes_the_last_samples_before_shuffling():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 6, 6, 1)).astype(np.float32)
    y = rng.integers(0, 3, 40)
    utils.set_random_seed(0)
    model = small_model()
    model.compile(optimizer="sgd", loss=losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    h = model.fit(x, y, batch_size=8, epochs=2, validation_split=0.25, verbose=0)
    assert list(h.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert h.params["steps"] == 4  # 30 training samples in batches of 8
    val_loss, val_acc = model.evaluate(x[30:], y[30:], verbose=0)
    assert h.history["val_loss"][-1] == pytest.approx(val_loss)
    assert h.history["val_accuracy"][-1] == pytest.approx(val_acc)
    h2 = model.fit(x[:30], y[:30], epochs=1, validation_data=(x[30:], y[30:]), verbose=0)
    assert "val_loss" in h2.history


def test_default_batch_size_and_progress_lines(capsys):
    x = np.zeros((70, 6, 6, 1), np.float32)
    y = np.zeros(70, np.int64)
    model = small_model()
    model.compile(optimizer="adam", loss=losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    capsys.readouterr()
    h = model.fit(x, y, epochs=2, verbose=2)
    assert h.params["steps"] == 3  # ceil(70 / 32)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Epoch 1/2" and out[2] == "Epoch 2/2"
    assert out[1].startswith("3/3 - ") and "/step - accuracy: " in out[1] and " - loss: " in out[1]
    model.fit(x, y, epochs=1, verbose=1)  # not a terminal: the finished bar only
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Epoch 1/1" and out[1].startswith("3/3 \u2501") and "accuracy:" in out[1]
    model.fit(x, y, epochs=1, verbose=0)
    assert capsys.readouterr().out == ""


def test_progress_bar_redraws_with_eta_on_a_terminal():
    from fastconv.keras._progbar import Progbar

    class Tty(io.StringIO):
        def isatty(self):
            return True

    stream = Tty()
    bar = Progbar(10, 1, stream=stream, interval=0)
    bar.update(4, {"loss": 1.5})
    bar.update(10, {"loss": 1.25}, finalize=True)
    text = stream.getvalue()
    assert text.startswith("\r 4/10 ") and "ETA " in text and "loss: 1.5000" in text
    assert "\r10/10 " in text and text.endswith("\n") and text.rstrip().endswith("loss: 1.2500")


def test_optimizer_updates_are_keras():
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal(7)
    grads = [rng.standard_normal(7) for _ in range(3)]

    def run(opt):
        w = w0.copy()
        for g in grads:
            opt.apply([w], [g])
        return w

    m = np.zeros(7)
    v = np.zeros(7)
    w = w0.copy()
    for t, g in enumerate(grads, 1):  # keras/src/optimizers/adam.py
        alpha = 1e-3 * np.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
        m += (g - m) * 0.1
        v += (g * g - v) * 0.001
        w -= m * alpha / (np.sqrt(v) + 1e-7)
    np.testing.assert_allclose(run(optimizers.get("adam")), w, rtol=1e-12)
    for nesterov in (False, True):  # keras/src/optimizers/sgd.py
        m = np.zeros(7)
        w = w0.copy()
        for g in grads:
            m = 0.9 * m - 0.05 * g
            w = w + (0.9 * m - 0.05 * g if nesterov else m)
        np.testing.assert_allclose(run(optimizers.SGD(0.05, momentum=0.9, nesterov=nesterov)), w, rtol=1e-12)
    np.testing.assert_allclose(run(optimizers.get("sgd")), w0 - 0.01 * sum(grads), rtol=1e-12)
    for momentum in (0.0, 0.5):  # keras/src/optimizers/rmsprop.py
        v = np.zeros(7)
        m = np.zeros(7)
        w = w0.copy()
        for g in grads:
            v = 0.9 * v + 0.1 * g * g
            step = 1e-3 * g / np.sqrt(v + 1e-7)
            m = momentum * m + step
            w = w - m
        np.testing.assert_allclose(run(optimizers.RMSprop(momentum=momentum)), w, rtol=1e-12)
    assert isinstance(optimizers.get("rmsprop"), optimizers.RMSprop)
    adam = optimizers.Adam()
    assert (adam.learning_rate, adam.beta_1, adam.beta_2, adam.epsilon) == (0.001, 0.9, 0.999, 1e-7)


def test_losses_by_name_and_object():
    y_pred = np.array([[0.2, 0.7, 0.1], [0.5, 0.25, 0.25]], np.float32)
    scce = losses.get("sparse_categorical_crossentropy")
    assert scce(np.array([1, 0]), y_pred) == pytest.approx(-(np.log(0.7) + np.log(0.5)) / 2, rel=1e-6)
    logits = np.log(y_pred) + 3.0
    assert losses.SparseCategoricalCrossentropy(from_logits=True)(np.array([1, 0]), logits) == \
        pytest.approx(-(np.log(0.7) + np.log(0.5)) / 2, rel=1e-5)
    one_hot = np.eye(3, dtype=np.float32)[[1, 0]]
    assert losses.get("categorical_crossentropy")(one_hot, y_pred) == pytest.approx(scce(np.array([1, 0]), y_pred))
    assert losses.get("mse")(one_hot, y_pred) == pytest.approx(np.mean((one_hot - y_pred) ** 2), rel=1e-6)
    # probabilities are clipped to [1e-7, 1 - 1e-7] as Keras does
    assert scce(np.array([2]), np.array([[1.0, 0.0, 0.0]], np.float32)) == pytest.approx(-np.log(1e-7), rel=1e-4)


# --------------------------------------------------------------------------- the from_logits warning

def test_softmax_output_with_from_logits_warns_and_computes_what_was_asked():
    x = np.random.default_rng(0).standard_normal((8, 6, 6, 1)).astype(np.float32)
    y = np.arange(8) % 3
    model = models.Sequential([layers.InputLayer(shape=(6, 6, 1)), layers.Flatten(),
                               layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss=losses.SparseCategoricalCrossentropy(from_logits=True))
    with pytest.warns(UserWarning, match="received `from_logits=True`, but the `output` argument was produced by a "
                                         "Softmax activation"):
        model.fit(x, y, epochs=1, verbose=0)
    with pytest.warns(UserWarning, match="does not represent logits"):
        loss = model.evaluate(x, y, verbose=0)
    p = model.predict(x, verbose=0).astype(np.float64)  # softmax outputs, then log_softmax of those
    logp = p - p.max(1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(1, keepdims=True))
    assert loss == pytest.approx(-logp[np.arange(8), y].mean(), rel=1e-5)
    logits_model = small_model()
    logits_model.compile(optimizer="adam", loss=losses.SparseCategoricalCrossentropy(from_logits=True))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        logits_model.fit(x, y, epochs=1, verbose=0)


# --------------------------------------------------------------------------- bad input

def test_bad_fit_inputs():
    x = np.zeros((10, 6, 6, 1), np.float32)
    y = np.zeros(10, np.int64)
    model = small_model()
    with pytest.raises(RuntimeError, match="must call compile"):
        model.fit(x, y)
    with pytest.raises(ValueError, match="Unknown loss: 'hinge_squared'"):
        model.compile(optimizer="adam", loss="hinge_squared")
    with pytest.raises(ValueError, match="Unknown optimizer: 'adagradx'"):
        model.compile(optimizer="adagradx", loss="mse")
    with pytest.raises(ValueError, match="Unknown metric"):
        model.compile(optimizer="adam", loss="mse", metrics=["f1"])
    model.compile(optimizer="adam", loss=losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    with pytest.raises(ValueError, match=r"expected x of shape \(batch, 6, 6, 1\).*channels-last.*got shape "
                                         r"\(10, 1, 6, 6\)"):
        model.fit(x.transpose(0, 3, 1, 2), y)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\) for 3 output classes, got a label 3"):
        model.fit(x, np.full(10, 3))
    with pytest.raises(ValueError, match="got a label -1"):
        model.fit(x, np.full(10, -1))
    with pytest.raises(ValueError, match="same number of samples"):
        model.fit(x, y[:9])
    with pytest.raises(ValueError, match=r"expected integer labels of shape \(10,\)"):
        model.fit(x, np.zeros((10, 3)))
    with pytest.raises(ValueError, match="non-integer"):
        model.fit(x, np.full(10, 0.5))
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        model.fit(x, y, batch_size=0)
    with pytest.raises(ValueError, match="validation_split"):
        model.fit(x, y, validation_split=1.5)
    with pytest.raises(ValueError, match="verbose"):
        model.fit(x, y, verbose=3)
    with pytest.raises(TypeError, match="unsupported argument"):
        model.fit(x, y, sample_weight=np.ones(10))
    with pytest.raises(TypeError, match="numeric"):
        model.predict(np.array([["a"]]))
    with pytest.raises(ValueError, match="already in the model"):
        model.add(model.layers[0])


def test_device_choice():
    import fastconv

    assert small_model(device="auto").device == "cpu"
    assert small_model(device="cpu").device == "cpu"
    with pytest.raises(ValueError, match="device must be one of"):
        small_model(device="tpu")
    if not fastconv.cuda_available():
        with pytest.raises(RuntimeError, match="device='cuda' needs a CUDA build of fastconv and a usable GPU"):
            small_model(device="cuda")


# --------------------------------------------------------------------------- data

def test_digits_data(digits):
    (x_train, y_train), (x_test, y_test) = digits
    assert x_train.shape == (1400, 28, 28, 1) and x_test.shape == (397, 28, 28, 1)
    assert x_train.dtype == np.float32 and y_train.dtype == np.uint8
    assert 0.0 == x_train.min() and x_train.max() == 1.0
    assert set(np.bincount(y_train)) <= set(range(135, 145)) and set(np.bincount(y_test)) <= set(range(39, 42))
    raw, labels = datasets.digits.load_raw()
    assert raw.shape == (1797, 8, 8) and labels[:10].tolist() == list(range(10))
    # bilinear, half-pixel centres: a constant image stays constant, block means are kept
    np.testing.assert_allclose(x_train[0].mean(), raw[0].mean() / 16, atol=0.02)


def _write_idx(path, array, gz):
    import gzip

    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    opener = gzip.open if gz else open
    with opener(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_mnist_from_idx_files_and_npz(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {"x_train": rng.integers(0, 256, (5, 28, 28)), "y_train": rng.integers(0, 10, 5),
              "x_test": rng.integers(0, 256, (3, 28, 28)), "y_test": rng.integers(0, 10, 3)}
    names = {"x_train": "train-images-idx3-ubyte", "y_train": "train-labels-idx1-ubyte",
             "x_test": "t10k-images-idx3-ubyte", "y_test": "t10k-labels-idx1-ubyte"}
    idx_dir = tmp_path / "idx"
    idx_dir.mkdir()
    for i, (k, a) in enumerate(arrays.items()):
        _write_idx(idx_dir / (names[k] + (".gz" if i % 2 == 0 else "")), a, gz=i % 2 == 0)
    (xt, yt), (xs, ys) = datasets.mnist.load_data(idx_dir)
    for got, key in ((xt, "x_train"), (yt, "y_train"), (xs, "x_test"), (ys, "y_test")):
        assert got.dtype == np.uint8
        np.testing.assert_array_equal(got, arrays[key])
    npz = tmp_path / "mnist.npz"
    np.savez(npz, **{k: a.astype(np.uint8) for k, a in arrays.items()})
    (xt2, _), (_, ys2) = datasets.mnist.load_data(npz)
    np.testing.assert_array_equal(xt2, arrays["x_train"])
    np.testing.assert_array_equal(ys2, arrays["y_test"])
    with pytest.raises(FileNotFoundError, match="does not download"):
        datasets.mnist.load_data(tmp_path / "nowhere")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="missing: train-images-idx3-ubyte"):
        datasets.mnist.load_data(empty)
