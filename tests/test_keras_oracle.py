"""fastconv.keras against Keras 3 itself (on its PyTorch backend), where Keras is installed: each layer
with Keras's own weights gives Keras's outputs (padding, strides, pooling windows, flatten order), and
so does the seed model. Skipped without Keras (it is not a dependency)."""

import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")
if keras.backend.backend() != "torch":
    pytest.skip("Keras runs on another backend here", allow_module_level=True)

from fastconv.keras import layers  # noqa: E402
from fastconv.cli.train import seed_model  # noqa: E402

CASES = [
    ("Conv2D", dict(filters=4, kernel_size=3, activation="relu")),
    ("Conv2D", dict(filters=4, kernel_size=(3, 2), strides=2, padding="same", activation="tanh")),
    ("Conv2D", dict(filters=3, kernel_size=3, strides=2, padding="same")),
    ("Conv2D", dict(filters=3, kernel_size=4, padding="same", activation="sigmoid")),
    ("Conv2D", dict(filters=2, kernel_size=3, dilation_rate=2, padding="same", use_bias=False)),
    ("MaxPooling2D", dict(pool_size=2)),
    ("MaxPooling2D", dict(pool_size=2, strides=1, padding="same")),
    ("MaxPooling2D", dict(pool_size=3, strides=2, padding="same")),
    ("AveragePooling2D", dict(pool_size=2, strides=1, padding="same")),
    # Not compared: 'same' average pooling with uneven padding and a pool wider than 2. Keras's
    # TensorFlow and JAX backends average the real taps only (as fastconv.keras does); its torch backend
    # pads by replicating the edge and counts those copies.
    ("AveragePooling2D", dict(pool_size=3, strides=1, padding="same")),
    ("AveragePooling2D", dict(pool_size=2)),
    ("GlobalAveragePooling2D", dict()),
    ("Flatten", dict()),
    ("Activation", dict(activation="softmax")),
]


@pytest.mark.parametrize("name,kw", CASES)
@pytest.mark.parametrize("hw", [(7, 6), (8, 9)])
def test_layer_matches_keras(name, kw, hw):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2,) + hw + (3,)).astype(np.float32)
    k_layer = getattr(keras.layers, name)(**kw)
    expected = np.asarray(keras.ops.convert_to_numpy(k_layer(x)))
    ours = getattr(layers, name)(**kw)
    ours.build(x.shape[1:])
    ours.set_weights(k_layer.get_weights())
    got = ours(x)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_seed_model_matches_keras_with_its_weights():
    k_model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(32, 3, activation="relu"),
                                keras.layers.MaxPooling2D(2), keras.layers.Conv2D(64, 3, activation="relu"),
                                keras.layers.MaxPooling2D(2), keras.layers.Conv2D(64, 3, activation="relu"),
                                keras.layers.Flatten(), keras.layers.Dense(64, activation="relu"),
                                keras.layers.Dense(10, activation="softmax")])
    ours = seed_model(logits=False)
    assert ours.count_params() == k_model.count_params() == 93322
    ours.set_weights(k_model.get_weights())
    x = np.random.default_rng(1).random((16, 28, 28, 1), dtype=np.float32)
    np.testing.assert_allclose(ours.predict(x, verbose=0), k_model.predict(x, verbose=0), rtol=1e-4, atol=1e-6)
