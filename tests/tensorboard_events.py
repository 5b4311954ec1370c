"""Read scalars back from tensorboardX event files (TFRecord framing, no TensorFlow)."""

from __future__ import annotations

import struct
from pathlib import Path

from tensorboardX.proto import event_pb2


def scalar_events(logdir: str | Path) -> list[tuple[str, int, float]]:
    """``(tag, step, value)`` of every scalar written in the event files under ``logdir``, in file order."""
    events = []
    for path in sorted(Path(logdir).glob("**/events.out.tfevents.*")):
        data, position = path.read_bytes(), 0
        while position < len(data):
            (length,) = struct.unpack("<Q", data[position : position + 8])
            event = event_pb2.Event.FromString(data[position + 12 : position + 12 + length])
            position += 12 + length + 4
            events.extend(
                (value.tag, event.step, value.simple_value)
                for value in event.summary.value
                if value.WhichOneof("value") == "simple_value"  # not HParams' session summaries
            )
    return events


def read_scalars(logdir: str | Path) -> dict[str, dict[int, float]]:
    """``{tag: {step: value}}`` of every scalar in the event files under ``logdir``."""
    scalars: dict[str, dict[int, float]] = {}
    for tag, step, value in scalar_events(logdir):
        scalars.setdefault(tag, {})[step] = value
    return scalars
