"""fastconv.keras layers: gradients by finite differences (fastconv.testing.gradcheck, float64) for the
input and every weight, output shapes as Keras computes them, and bad arguments."""

import numpy as np
import pytest

from fastconv.keras import layers, losses, models
from fastconv.testing.gradcheck import gradcheck, numerical_grads


def _layer_gradcheck(layer, x_shape, seed=0, training=False):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape)
    y = layer(x, training=training)
    dy = rng.standard_normal(y.shape)
    dx = layer.backward(dy)
    natives = [w.native for w in layer.weights]
    grads = [w.grad.copy() for w in layer.weights]
    gradcheck(lambda: layer.forward(x, training), [x] + natives, [dx] + grads, dy)
    return y


CONV_CASES = [
    dict(filters=3, kernel_size=(3, 3), activation="relu"),
    dict(filters=2, kernel_size=(2, 3), padding="same", activation="tanh"),
    dict(filters=2, kernel_size=3, strides=2, padding="same", activation="sigmoid"),   # odd row read: explicit pad
    dict(filters=2, kernel_size=(3, 2), strides=(2, 1), padding="same"),
    dict(filters=2, kernel_size=3, dilation_rate=2, padding="same", use_bias=False),
    dict(filters=4, kernel_size=1, strides=2),
]


@pytest.mark.parametrize("kw", CONV_CASES)
def test_conv2d_gradients(kw):
    layer = layers.Conv2D(dtype="float64", **kw)
    _layer_gradcheck(layer, (2, 7, 6, 3))


@pytest.mark.parametrize("h,w,k,s,padding", [(7, 6, 3, 1, "same"), (7, 7, 3, 2, "same"), (8, 5, 4, 3, "same"),
                                             (7, 6, 2, 2, "valid"), (6, 6, 2, 1, "same")])
def test_conv2d_output_shape_is_keras(h, w, k, s, padding):
    layer = layers.Conv2D(2, k, strides=s, padding=padding)
    layer.build((h, w, 3))
    if padding == "same":
        expected = (-(-h // s), -(-w // s), 2)
    else:
        expected = ((h - k) // s + 1, (w - k) // s + 1, 2)
    assert layer.output_shape == expected
    assert layer(np.zeros((1, h, w, 3), np.float32)).shape == (1,) + expected


def test_conv2d_same_strided_matches_explicit_padding():
    """Keras's 'same' with stride 2 on 7 rows pads 1 above and 1 below; on 6 rows 0 above and 1 below."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 6, 6, 1))
    layer = layers.Conv2D(1, 3, strides=2, padding="same", dtype="float64", use_bias=False)
    y = layer(x)
    k = layer.kernel.value[:, :, 0, 0]
    xp = np.pad(x[0, :, :, 0], ((0, 1), (0, 1)))
    ref = np.array([[np.sum(xp[i:i + 3, j:j + 3] * k) for j in range(0, 5, 2)] for i in range(0, 5, 2)])
    np.testing.assert_allclose(y[0, :, :, 0], ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cls", [layers.MaxPooling2D, layers.AveragePooling2D])
@pytest.mark.parametrize("pool,strides,padding", [((2, 2), None, "valid"), ((2, 2), None, "same"),
                                                  ((3, 3), 2, "same"), ((2, 3), 1, "same"), (3, 1, "valid")])
def test_pooling_gradients_and_shapes(cls, pool, strides, padding):
    layer = cls(pool, strides=strides, padding=padding, dtype="float64")
    y = _layer_gradcheck(layer, (2, 7, 6, 3))
    p = pool if isinstance(pool, tuple) else (pool, pool)
    s = p if strides is None else ((strides, strides) if isinstance(strides, int) else strides)
    if padding == "same":
        expected = (-(-7 // s[0]), -(-6 // s[1]))
    else:
        expected = ((7 - p[0]) // s[0] + 1, (6 - p[1]) // s[1] + 1)
    assert y.shape == (2,) + expected + (3,)


def test_same_pooling_windows_are_keras():
    """Stride 1, pool 2, 'same': each window starts at its own pixel and the padding (bottom/right) is ignored."""
    x = np.arange(9, dtype=np.float64).reshape(1, 3, 3, 1)
    y_max = layers.MaxPooling2D(2, strides=1, padding="same", dtype="float64")(x)[0, :, :, 0]
    y_avg = layers.AveragePooling2D(2, strides=1, padding="same", dtype="float64")(x)[0, :, :, 0]
    np.testing.assert_array_equal(y_max, [[4, 5, 5], [7, 8, 8], [7, 8, 8]])
    np.testing.assert_allclose(y_avg, [[2, 3, 3.5], [5, 6, 6.5], [6.5, 7.5, 8]])


def test_same_average_pooling_averages_real_taps_only():
    """Uneven 'same' padding (0 above, 1 below): the last windows average 2 rows, as Keras's TensorFlow and
    JAX backends do."""
    x = np.random.default_rng(4).standard_normal((1, 6, 5, 2))
    y = layers.AveragePooling2D(3, strides=2, padding="same", dtype="float64")(x)
    assert y.shape == (1, 3, 3, 2)
    for i in range(3):
        for j in range(3):
            # pad_before is 0 on both axes (6 rows: total 1; 5 columns: total 2 -> 1 before): windows start at
            # 2*i and 2*j - 1, clipped to the input
            rows = slice(2 * i, min(2 * i + 3, 6))
            cols = slice(max(2 * j - 1, 0), min(2 * j + 2, 5))
            np.testing.assert_allclose(y[0, i, j], x[0, rows, cols].mean((0, 1)), rtol=1e-12)


@pytest.mark.parametrize("keepdims", [False, True])
def test_global_average_pooling_gradients(keepdims):
    layer = layers.GlobalAveragePooling2D(keepdims=keepdims, dtype="float64")
    y = _layer_gradcheck(layer, (2, 5, 4, 3))
    assert y.shape == ((2, 1, 1, 3) if keepdims else (2, 3))


@pytest.mark.parametrize("activation", [None, "relu", "sigmoid", "tanh", "softmax"])
def test_dense_gradients(activation):
    layer = layers.Dense(4, activation=activation, dtype="float64")
    y = _layer_gradcheck(layer, (3, 5))
    assert y.shape == (3, 4)
    assert layer.kernel.shape == (5, 4) and layer.bias.shape == (4,)


def test_dense_without_bias_gradients():
    layer = layers.Dense(3, use_bias=False, dtype="float64")
    _layer_gradcheck(layer, (2, 4))
    assert len(layer.weights) == 1


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh", "softmax", "linear"])
def test_activation_gradients(activation):
    _layer_gradcheck(layers.Activation(activation, dtype="float64"), (3, 6))


def test_relu_and_flatten_gradients():
    _layer_gradcheck(layers.ReLU(dtype="float64"), (2, 3, 4, 2))
    flat = layers.Flatten(dtype="float64")
    y = _layer_gradcheck(flat, (2, 3, 4, 2))
    assert y.shape == (2, 24)


def test_flatten_is_channels_last_order():
    x = np.arange(2 * 3 * 4, dtype=np.float32).reshape(1, 2, 3, 4)
    np.testing.assert_array_equal(layers.Flatten()(x)[0], np.arange(24))


def test_dropout():
    layer = layers.Dropout(0.25, seed=3, dtype="float64")
    x = np.ones((200, 50))
    np.testing.assert_array_equal(layer(x), x)  # inference: identity
    y = layer(x, training=True)
    kept = y != 0
    assert 0.7 < kept.mean() < 0.8
    np.testing.assert_allclose(y[kept], 1 / 0.75)
    dy = np.random.default_rng(0).standard_normal(x.shape)
    np.testing.assert_allclose(layer.backward(dy), dy * y)


def test_keras_weight_layouts():
    conv = layers.Conv2D(5, (3, 2))
    conv.build((8, 8, 4))
    assert conv.kernel.shape == (3, 2, 4, 5) and conv.kernel.native.shape == (5, 3, 2, 4)
    kernel = np.arange(3 * 2 * 4 * 5, dtype=np.float32).reshape(3, 2, 4, 5)
    conv.set_weights([kernel, np.zeros(5)])
    np.testing.assert_array_equal(conv.get_weights()[0], kernel)
    np.testing.assert_array_equal(conv.kernel.native, kernel.transpose(3, 0, 1, 2))
    dense = layers.Dense(3)
    dense.build((7,))
    assert dense.kernel.shape == (7, 3) and dense.kernel.native.shape == (3, 7)


def test_glorot_uniform_and_zero_bias():
    conv = layers.Conv2D(64, (3, 3))
    conv.build((5, 5, 32))
    limit = np.sqrt(6 / (3 * 3 * 32 + 3 * 3 * 64))
    k = conv.kernel.value
    assert np.abs(k).max() <= limit and np.abs(k).max() > 0.95 * limit
    assert abs(k.std() - limit / np.sqrt(3)) < 0.05 * limit
    np.testing.assert_array_equal(conv.bias.value, 0)


def test_whole_model_gradients():
    """Loss gradient w.r.t. every parameter of a small model, through every kind of layer."""
    model = models.Sequential([
        layers.InputLayer(shape=(6, 5, 2), dtype="float64"),
        layers.Conv2D(3, 3, padding="same", activation="relu", dtype="float64"),
        layers.MaxPooling2D(2, padding="same", dtype="float64"),
        layers.Conv2D(2, 2, activation="tanh", dtype="float64"),
        layers.AveragePooling2D((1, 2), dtype="float64"),
        layers.Flatten(dtype="float64"),
        layers.Dense(4, activation="sigmoid", dtype="float64"),
        layers.Dense(3, activation="softmax", dtype="float64"),
    ])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 6, 5, 2))
    y = np.array([0, 2, 1, 2])
    loss, dy = model.loss.compute(y, model._forward(x, training=True), need_grad=True)
    model._backward(dy)
    params = [w.native for w in model.weights]
    grads = [w.grad.copy() for w in model.weights]
    assert len(params) == 8
    gradcheck(lambda: model.loss.compute(y, model._forward(x, training=False), need_grad=False)[0], params, grads)


FUSION_CASES = [  # conv kwargs, pool kwargs, whether the model computes the pair together
    (dict(filters=4, kernel_size=3, activation="relu"), dict(pool_size=2), True),
    (dict(filters=3, kernel_size=2, use_bias=False), dict(pool_size=3, strides=2), True),        # overlapping
    (dict(filters=3, kernel_size=3, strides=2, padding="same", activation="relu"),
     dict(pool_size=2, padding="same"), True),
    (dict(filters=3, kernel_size=3, activation="relu"), dict(pool_size=(2, 3), strides=1), True),
    (dict(filters=3, kernel_size=3, activation="tanh"), dict(pool_size=2), False),
    (dict(filters=3, kernel_size=3, activation="relu"), dict(pool_size=2, strides=1, padding="same"), False),
]


@pytest.mark.parametrize("conv_kw,pool_kw,fused", FUSION_CASES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_conv_max_pool_fusion_matches_the_layers_one_by_one(conv_kw, pool_kw, fused, dtype):
    """The model computes Conv2D + MaxPooling2D together where that is exact: the same outputs as the
    two layers' own forward (bit for bit), the same gradients (up to the bias sum's rounding)."""
    model = models.Sequential([layers.Conv2D(dtype=dtype, input_shape=(9, 8, 3), **conv_kw),
                               layers.MaxPooling2D(dtype=dtype, **pool_kw),
                               layers.Flatten(dtype=dtype)])
    conv, pool, flat = model.layers
    assert [conv_ is not None for _, conv_ in model._steps] == ([True, False] if fused else [False] * 3)
    rng = np.random.default_rng(1)
    conv.bias is None or conv.bias.assign(rng.standard_normal(conv.bias.shape))
    x = rng.standard_normal((3, 9, 8, 3)).astype(dtype)
    y = model._forward(x, training=True)
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx = model._backward(dy, need_input_grad=True)
    grads = [w.grad.copy() for w in model.weights]
    y_ref = flat.forward(pool.forward(conv.forward(x, True), True), True)
    np.testing.assert_array_equal(y, y_ref)
    dx_ref = conv.backward(pool.backward(flat.backward(dy)))
    rtol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(dx, dx_ref, rtol=rtol, atol=rtol)
    for g, w in zip(grads, model.weights):
        np.testing.assert_allclose(g, w.grad, rtol=rtol, atol=rtol)


def test_conv_max_pool_fusion_gradients():
    model = models.Sequential([layers.Conv2D(3, 2, activation="relu", input_shape=(7, 6, 2), dtype="float64"),
                               layers.MaxPooling2D(3, strides=2, dtype="float64"),
                               layers.Flatten(dtype="float64")])
    assert model._steps[0][1] is not None
    rng = np.random.default_rng(2)
    model.layers[0].bias.assign(rng.standard_normal(3) * 0.1)
    x = rng.standard_normal((2, 7, 6, 2))
    y = model._forward(x, training=True)
    dy = rng.standard_normal(y.shape)
    dx = model._backward(dy, need_input_grad=True)
    params = [w.native for w in model.weights]
    grads = [w.grad.copy() for w in model.weights]
    gradcheck(lambda: model._forward(x, training=False), [x] + params, [dx] + grads, dy)


@pytest.mark.parametrize("loss,target", [
    (losses.SparseCategoricalCrossentropy(from_logits=True), "sparse"),
    (losses.SparseCategoricalCrossentropy(), "sparse"),
    (losses.CategoricalCrossentropy(from_logits=True), "dense"),
    (losses.CategoricalCrossentropy(), "dense"),
    (losses.MeanSquaredError(), "dense"),
])
def test_loss_gradients(loss, target):
    rng = np.random.default_rng(2)
    y_pred = rng.uniform(0.1, 1.0, (5, 4))
    if target == "sparse":
        y_true = loss.prepare_targets(np.array([0, 3, 1, 1, 2]), y_pred.shape)
    else:
        y_true = rng.dirichlet(np.ones(4), 5)
    _, grad = loss.compute(y_true, y_pred, need_grad=True)
    gradcheck(lambda: loss.compute(y_true, y_pred, need_grad=False)[0], [y_pred], [grad])


def test_gradcheck_catches_a_wrong_gradient():
    x = np.linspace(-1, 1, 5)
    with pytest.raises(AssertionError, match="differ from finite differences"):
        gradcheck(lambda: np.sum(x ** 3), [x], [2 * x ** 2])
    (g,) = numerical_grads(lambda: x ** 2, [x], np.ones(5))
    np.testing.assert_allclose(g, 2 * x, atol=1e-8)
    with pytest.raises(TypeError, match="float64"):
        gradcheck(lambda: x, [x.astype(np.float32)], [None])


# --------------------------------------------------------------------------- bad arguments

@pytest.mark.parametrize("make,match", [
    (lambda: layers.Conv2D(0, 3), "filters must be a positive int"),
    (lambda: layers.Conv2D(4, (3, 3, 3)), "kernel_size must be an int or a tuple of 2 ints"),
    (lambda: layers.Conv2D(4, 3, padding="full"), "padding must be 'valid' or 'same'"),
    (lambda: layers.Conv2D(4, 3, activation="gelu"), "Unknown activation"),
    (lambda: layers.Conv2D(4, 3, data_format="channels_first"), "channels_last"),
    (lambda: layers.MaxPooling2D(0), "pool_size must be positive"),
    (lambda: layers.Dense(-1), "units must be a positive int"),
    (lambda: layers.Dropout(1.0), r"rate must be a float in \[0, 1\)"),
    (lambda: layers.Dense(3, dtype="int32"), "dtype must be 'float32' or 'float64'"),
    (lambda: layers.Dense(3, foo=1), "unexpected keyword argument"),
])
def test_bad_layer_arguments(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()


def test_bad_layer_inputs():
    conv = layers.Conv2D(2, 3)
    with pytest.raises(ValueError, match=r"expected inputs of shape \(batch, height, width, channels\)"):
        conv.build((28, 28))
    with pytest.raises(ValueError, match="smaller than the kernel"):
        layers.Conv2D(2, 5).build((4, 4, 1))
    with pytest.raises(ValueError, match="add a Flatten layer"):
        layers.Dense(3).build((4, 4, 2))
    conv.build((8, 8, 3))
    with pytest.raises(ValueError, match=r"incompatible with the layer: expected shape=\(None, 8, 8, 3\)"):
        conv(np.zeros((2, 8, 8, 4), np.float32))


def test_layers_take_strided_and_unaligned_inputs():
    """Inputs the kernels cannot read in place (byte-offset buffers) and strided views give the same
    results as contiguous copies, forward and backward."""
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 6, 6, 3)).astype(np.float32)
    raw = np.frombuffer(b"\0" + x.tobytes(), np.uint8, offset=1).view(np.float32).reshape(x.shape)
    assert not raw.flags.aligned
    wide = np.zeros((2, 6, 12, 3), np.float32)
    wide[:, :, ::2] = x
    for layer in (layers.Conv2D(4, 3, activation="relu"), layers.MaxPooling2D(2), layers.Dense(5)):
        want_y = None
        for inp in (x, raw, wide[:, :, ::2]):
            inp = inp.reshape(2, -1) if isinstance(layer, layers.Dense) else inp
            y = layer(inp, training=True)
            dx = layer.backward(np.ones_like(y))
            if want_y is None:
                want_y, want_dx = y, dx
            np.testing.assert_array_equal(y, want_y)
            np.testing.assert_array_equal(dx, want_dx)
