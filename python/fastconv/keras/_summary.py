"""``Sequential.summary()``: Keras's table of layers, output shapes and parameter counts."""

from __future__ import annotations

from typing import List


def _size(n_bytes: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n_bytes < 1024 or unit == "GB":
            return f"{n_bytes:.2f} {unit}"
        n_bytes /= 1024
    return ""


def summary_lines(model) -> List[str]:
    widths = (33, 24, 15)
    rows = []
    for layer in model.layers:
        shape = "?" if layer.output_shape is None else str((None,) + tuple(layer.output_shape))
        params = f"{layer.count_params():,}" if layer.built else "0 (unbuilt)"
        rows.append((f"{layer.name} ({type(layer).__name__})", shape, params))

    def line(left, mid, right, fill):
        return left + mid.join(fill * w for w in widths) + right

    def cells(values, bar):
        parts = [f" {values[0]:<{widths[0] - 2}} ", f" {values[1]:<{widths[1] - 2}} ", f" {values[2]:>{widths[2] - 2}} "]
        return bar + bar.join(parts) + bar

    out = [f'Model: "{model.name}"', line("\u250f", "\u2533", "\u2513", "\u2501"),
           cells(("Layer (type)", "Output Shape", "Param #"), "\u2503"), line("\u2521", "\u2547", "\u2529", "\u2501")]
    for i, row in enumerate(rows):
        out.append(cells(row, "\u2502"))
        if i + 1 < len(rows):
            out.append(line("\u251c", "\u253c", "\u2524", "\u2500"))
    out.append(line("\u2514", "\u2534", "\u2518", "\u2500"))
    total = model.count_params()
    itemsize = model._dtype().itemsize
    out += [f" Total params: {total:,} ({_size(total * itemsize)})",
            f" Trainable params: {total:,} ({_size(total * itemsize)})",
            f" Non-trainable params: 0 ({_size(0)})"]
    return out
