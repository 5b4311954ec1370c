"""The multi-task network."""

from __future__ import annotations

from mtlstudy.models._net import MultiTaskNet, TaskOutputs

__all__ = ["MultiTaskNet", "TaskOutputs"]
