"""Task losses of SPEC.md, all with one signature: ``loss(outputs, ratings) -> scalar``."""

from __future__ import annotations

import torch

from mtlstudy.models import TaskOutputs

__all__ = ["factorization_loss", "regression_loss"]


def factorization_loss(outputs: TaskOutputs, ratings: torch.Tensor) -> torch.Tensor:
    """Mean of ``1 - sigmoid(p_ui - p_uj)``: the original's BPR-style ranking loss."""
    return (1.0 - torch.sigmoid(outputs.positive_scores - outputs.negative_scores)).mean()


def regression_loss(outputs: TaskOutputs, ratings: torch.Tensor) -> torch.Tensor:
    """Mean squared error of the predicted ratings."""
    return ((outputs.predicted_ratings - ratings) ** 2).mean()
