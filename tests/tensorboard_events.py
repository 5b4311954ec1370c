"""Read scalars back from tensorboardX event files (TFRecord framing, no TensorFlow)."""

from __future__ import annotations

import struct
from pathlib import Path

from tensorboardX.proto import event_pb2


def read_scalars(logdir: str | Path) -> dict[str, dict[int, float]]:
    """``{tag: {step: value}}`` of every scalar in the event files under ``logdir``."""
    scalars: dict[str, dict[int, float]] = {}
    for path in sorted(Path(logdir).glob("**/events.out.tfevents.*")):
        data, position = path.read_bytes(), 0
        while position < len(data):
            (length,) = struct.unpack("<Q", data[position : position + 8])
            event = event_pb2.Event.FromString(data[position + 12 : position + 12 + length])
            position += 12 + length + 4
            for value in event.summary.value:
                if value.WhichOneof("value") == "simple_value":  # not HParams' session summaries
                    scalars.setdefault(value.tag, {})[event.step] = value.simple_value
    return scalars
