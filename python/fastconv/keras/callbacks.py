"""``History``: what ``fit`` returns; ``history.history`` maps 'loss', 'accuracy', 'val_loss', ... to
one value per epoch."""

from __future__ import annotations

from typing import Dict, List

__all__ = ["History"]


class History:
    def __init__(self):
        self.history: Dict[str, List[float]] = {}
        self.epoch: List[int] = []
        self.params: Dict[str, object] = {}
        self.model = None
        self.epoch_seconds: List[float] = []  # wall time of each epoch, validation included

    def on_epoch_end(self, epoch: int, logs: Dict[str, float]) -> None:
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)

    def __repr__(self) -> str:
        return f"<History epochs={len(self.epoch)} keys={sorted(self.history)}>"
