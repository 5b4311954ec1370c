"""The multi-task network."""

from __future__ import annotations

from mtlstudy.models._fused import JointGradient
from mtlstudy.models._net import MultiTaskNet, TaskOutputs
from mtlstudy.models._packed import PackedJointGradient, PackedMultiTaskNet

__all__ = ["JointGradient", "MultiTaskNet", "PackedJointGradient", "PackedMultiTaskNet", "TaskOutputs"]
