"""The multi-task network of SPEC.md: a factorization head and a rating-regression head."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import nn

from mtlstudy._errors import ConfigError

__all__ = ["MultiTaskNet", "TaskOutputs"]


class TaskOutputs(NamedTuple):
    """What one forward pass yields for a batch of (user, positive, negative) triples."""

    positive_scores: torch.Tensor
    negative_scores: torch.Tensor
    predicted_ratings: torch.Tensor


class _ScaledEmbedding(nn.Embedding):
    """An embedding table initialised from N(0, 1/d), as the original pipeline did."""

    def reset_parameters(self) -> None:
        nn.init.normal_(self.weight, 0.0, 1.0 / self.embedding_dim)


class _ZeroEmbedding(nn.Embedding):
    """A bias table initialised to zero."""

    def reset_parameters(self) -> None:
        nn.init.zeros_(self.weight)


class _Tower(nn.Module):
    """One (user, item) embedding pair."""

    def __init__(self, num_users: int, num_items: int, embedding_dim: int) -> None:
        super().__init__()
        self.users = _ScaledEmbedding(num_users, embedding_dim)
        self.items = _ScaledEmbedding(num_items, embedding_dim)


def _mlp(layer_sizes: Sequence[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for fan_in, fan_out in zip(layer_sizes[:-1], layer_sizes[1:]):
        layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
    layers.append(nn.Linear(layer_sizes[-1], 1))
    return nn.Sequential(*layers)


class MultiTaskNet(nn.Module):
    """Matrix factorization for ranking plus an MLP over embeddings for ratings.

    Factorization head: ``p_ij = u_i . q_j + b_j`` (``+ a_i`` with ``user_bias``).
    Regression head: ``r_ij = f([u_i, q_j, u_i * q_j])`` with ``f`` an MLP whose layer
    sizes are ``layer_sizes`` followed by a single output (``(96, 64)`` gives
    Linear(96, 64) -> ReLU -> Linear(64, 1)).

    Parameters
    ----------
    num_users, num_items : int
        Rows of the embedding tables (``max id + 1``).
    embedding_dim : int
        Latent dimension d; ``layer_sizes[0]`` must equal ``3 * d``.
    layer_sizes : sequence of int
        Input and hidden sizes of the rating MLP.
    shared : bool
        One (U, Q) pair for both heads, or a separate pair per head.
    user_bias : bool
        Add a per-user bias ``a_i`` to the factorization score. A per-user constant
        cannot change one user's ranking, so this only affects training dynamics.
    """

    def __init__(
        self,
        num_users: int,
        num_items: int,
        embedding_dim: int = 32,
        layer_sizes: Sequence[int] = (96, 64),
        shared: bool = True,
        user_bias: bool = False,
    ) -> None:
        super().__init__()
        layer_sizes = tuple(int(size) for size in layer_sizes)
        if embedding_dim < 1:
            raise ConfigError(f"embedding_dim must be >= 1, got {embedding_dim}")
        if not layer_sizes or layer_sizes[0] != 3 * embedding_dim or min(layer_sizes) < 1:
            raise ConfigError(
                f"layer_sizes must be positive and start at 3 * embedding_dim = "
                f"{3 * embedding_dim}, got {list(layer_sizes)}"
            )
        self.shared = shared
        self.factorization = _Tower(num_users, num_items, embedding_dim)
        self.regression = None if shared else _Tower(num_users, num_items, embedding_dim)
        self.item_bias = _ZeroEmbedding(num_items, 1)
        self.user_bias = _ZeroEmbedding(num_users, 1) if user_bias else None
        self.mlp = _mlp(layer_sizes)

    @property
    def _regression_tower(self) -> _Tower:
        return self.factorization if self.regression is None else self.regression

    def forward(
        self, user_ids: torch.Tensor, item_ids: torch.Tensor, negative_item_ids: torch.Tensor
    ) -> TaskOutputs:
        """Score positives and negatives in one pass and predict the positives' ratings."""
        tower = self.factorization
        users = tower.users(user_ids)
        both_items = torch.stack((item_ids, negative_item_ids), dim=1)
        items = tower.items(both_items)
        # Multiply-and-sum beats bmm on these tiny (2 x d) products, forward and backward.
        scores = (items * users.unsqueeze(1)).sum(2) + self.item_bias(both_items).squeeze(2)
        if self.user_bias is not None:
            scores = scores + self.user_bias(user_ids)
        if self.regression is None:
            ratings = self._rate(users, items[:, 0])
        else:
            ratings = self.predict_ratings(user_ids, item_ids)
        return TaskOutputs(scores[:, 0], scores[:, 1], ratings)

    def _rate(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return self.mlp(torch.cat((users, items, users * items), dim=1)).squeeze(1)

    def predict_ratings(self, user_ids: torch.Tensor, item_ids: torch.Tensor) -> torch.Tensor:
        """Predicted ratings ``r_ij`` for aligned user and item ids."""
        tower = self._regression_tower
        return self._rate(tower.users(user_ids), tower.items(item_ids))

    def score_all(self) -> torch.Tensor:
        """Factorization scores ``p_ij`` of every user for every item, users x items."""
        tower = self.factorization
        scores = torch.addmm(self.item_bias.weight.T, tower.users.weight, tower.items.weight.T)
        if self.user_bias is not None:
            scores = scores + self.user_bias.weight
        return scores
