"""The interactions container, the SPEC.md train/test split and the validation split of the training rows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mtlstudy._errors import ConfigError

__all__ = ["Interactions", "random_train_test_split", "random_validation_split"]


@dataclass(frozen=True)
class Interactions:
    """Explicit-feedback interactions: one (user, item, rating, timestamp) per row.

    Ids are 1-based as in MovieLens' ``u.data``; ``num_users`` and ``num_items`` are
    ``max id + 1`` of the full data set (row 0 of each embedding table is unused),
    and are kept unchanged by :func:`random_train_test_split` so both halves index
    the same tables.

    Attributes
    ----------
    user_ids, item_ids : numpy.ndarray of int64
    ratings : numpy.ndarray of float32
    timestamps : numpy.ndarray of int64
    num_users, num_items : int
    """

    user_ids: np.ndarray
    item_ids: np.ndarray
    ratings: np.ndarray
    timestamps: np.ndarray
    num_users: int
    num_items: int

    def __post_init__(self) -> None:
        lengths = {len(self.user_ids), len(self.item_ids), len(self.ratings), len(self.timestamps)}
        if len(lengths) != 1:
            raise ValueError(f"Interactions arrays differ in length: {sorted(lengths)}")

    @classmethod
    def from_arrays(
        cls,
        user_ids: np.ndarray,
        item_ids: np.ndarray,
        ratings: np.ndarray,
        timestamps: np.ndarray | None = None,
        num_users: int | None = None,
        num_items: int | None = None,
    ) -> Interactions:
        """Build interactions with canonical dtypes; sizes default to ``max id + 1``."""
        user_ids = np.asarray(user_ids, dtype=np.int64)
        item_ids = np.asarray(item_ids, dtype=np.int64)
        ratings = np.asarray(ratings, dtype=np.float32)
        if timestamps is None:
            timestamps = np.zeros(len(user_ids), dtype=np.int64)
        return cls(
            user_ids=user_ids,
            item_ids=item_ids,
            ratings=ratings,
            timestamps=np.asarray(timestamps, dtype=np.int64),
            num_users=int(num_users if num_users is not None else user_ids.max(initial=0) + 1),
            num_items=int(num_items if num_items is not None else item_ids.max(initial=0) + 1),
        )

    def __len__(self) -> int:
        return len(self.user_ids)

    def subset(self, rows: np.ndarray) -> Interactions:
        """The interactions at ``rows`` (indices or a boolean mask), same table sizes."""
        return Interactions(
            user_ids=self.user_ids[rows],
            item_ids=self.item_ids[rows],
            ratings=self.ratings[rows],
            timestamps=self.timestamps[rows],
            num_users=self.num_users,
            num_items=self.num_items,
        )


def random_train_test_split(
    interactions: Interactions, test_fraction: float = 0.05, seed: int = 123
) -> tuple[Interactions, Interactions]:
    """Split as the original pipeline did (SPEC.md, Data).

    ``numpy.random.RandomState(seed).shuffle`` permutes ``arange(n)`` in the file's
    row order; the first ``int((1 - test_fraction) * n)`` rows are train, the rest test.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ConfigError(f"test_fraction must lie in (0, 1), got {test_fraction!r}")
    n = len(interactions)
    cut = _cut(n, test_fraction, "test", f"{test_fraction:g}", "")
    order = np.arange(n)
    np.random.RandomState(seed).shuffle(order)
    return interactions.subset(order[:cut]), interactions.subset(order[cut:])


def random_validation_split(
    train: Interactions, validation_fraction: float, seed: int
) -> tuple[Interactions, Interactions]:
    """Hold ``validation_fraction`` (in (0, 1)) of the training rows ``train`` out as validation rows.

    A permutation of ``arange(len(train))`` drawn by ``numpy.random.default_rng(seed)``
    (another generator than the test split's, so the two draws are unrelated): its first
    ``int((1 - validation_fraction) * n)`` rows stay training rows, the rest are validation
    rows. The test split is made before and is not touched.

    Examples
    --------
    >>> from mtlstudy.data import make_synthetic
    >>> train, test = random_train_test_split(make_synthetic(seed=1))
    >>> fit, validation = random_validation_split(train, 0.1, 123)
    >>> len(fit) + len(validation) == len(train)
    True
    """
    n = len(train)
    cut = _cut(n, validation_fraction, "validation", repr(validation_fraction), " training")
    order = np.random.default_rng(seed).permutation(n)
    return train.subset(order[:cut]), train.subset(order[cut:])


def _cut(n: int, fraction: float, held_out: str, shown: str, rows: str) -> int:
    """How many of ``n`` shuffled ratings stay training rows when ``fraction`` of them is held
    out as ``held_out`` rows; ConfigError if either side is empty. The message writes the
    fraction as ``shown`` and the ratings as ``rows`` ones (" training", or "")."""
    cut = int((1.0 - fraction) * n)
    if not 0 < cut < n:
        raise ConfigError(
            f"a {held_out} fraction of {shown} leaves {'no training' if cut <= 0 else f'no {held_out}'} ratings "
            f"out of {n}{rows} ratings; use more ratings or another --{held_out}-fraction"
        )
    return cut
