"""The multi-task network."""

from __future__ import annotations

from mtlstudy.models._fused import JointGradient
from mtlstudy.models._net import MultiTaskNet, TaskOutputs

__all__ = ["JointGradient", "MultiTaskNet", "TaskOutputs"]
