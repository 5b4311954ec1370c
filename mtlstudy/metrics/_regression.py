"""Rating-prediction metrics."""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["mse_score"]


def mse_score(predicted: np.ndarray | torch.Tensor, observed: np.ndarray | torch.Tensor) -> float:
    """Mean squared error between predicted and observed ratings."""
    if isinstance(predicted, torch.Tensor):
        observed = torch.as_tensor(observed, device=predicted.device, dtype=predicted.dtype)
        return float(((predicted.detach() - observed) ** 2).mean())
    predicted = np.asarray(predicted, dtype=np.float64)
    return float(np.mean((predicted - np.asarray(observed, dtype=np.float64)) ** 2))
