"""A seeded synthetic rating data set with planted low-rank preferences.

It stands in for MovieLens-100K in tests and quick runs: which items a user rates
and how highly both follow the same latent affinity, so both the ranking task and
the rating task have signal to learn.
"""

from __future__ import annotations

import inspect
import math
import numbers

import numpy as np

from mtlstudy._checks import check_count, check_seed, short_repr
from mtlstudy._errors import ConfigError
from mtlstudy.data._interactions import Interactions

__all__ = ["make_synthetic", "check_synthetic_options", "MAX_DRAW_BYTES"]

# MovieLens-100K's first timestamp, so synthetic rows look like the real ones.
_FIRST_TIMESTAMP = 874_724_710
#: The most memory a draw may take: it holds several dense num_users x num_items arrays at once.
MAX_DRAW_BYTES = 4 * 2**30
# A draw's peak memory per (user, item) pair: affinity, Gumbel keys and their argsort (tracemalloc).
_DRAW_BYTES_PER_PAIR = 32


def make_synthetic(
    num_users: int = 300,
    num_items: int = 400,
    density: float = 0.05,
    rank: int = 4,
    noise: float = 0.5,
    seed: int = 0,
) -> Interactions:
    """Draw ratings from planted rank-``rank`` user/item factors.

    Affinity ``a_ui`` is the standardised dot product of N(0, 1) user and item
    factors. Each user rates ``max(1, Binomial(num_items, density))`` distinct items,
    drawn without replacement with probability proportional to ``exp(a_ui)`` (the
    Gumbel top-k trick), so rated items are learnably ranked above the rest. The
    rating is ``clip(round(3 + a_ui + noise * N(0, 1)), 1, 5)``. Rows are shuffled,
    then given increasing timestamps.

    Parameters
    ----------
    num_users, num_items : int
        Number of users and items (ids ``1..num_users`` and ``1..num_items``).
    density : float
        Expected fraction of items each user rates, in (0, 1].
    rank : int
        Number of latent factors.
    noise : float
        Standard deviation of the rating noise, >= 0.
    seed : int
        Seed of :func:`numpy.random.default_rng`, a 32-bit seed; the same seed gives identical arrays.

    Returns
    -------
    Interactions
        1-based ids with unique (user, item) pairs; ``num_users + 1`` by
        ``num_items + 1`` tables, as for MovieLens (row 0 unused).

    Raises
    ------
    ConfigError
        If an option is out of range, naming it and its value, or if drawing would take
        more than :data:`MAX_DRAW_BYTES` of memory.
    """
    _check_values(num_users, num_items, density, rank, noise, seed)

    rng = np.random.default_rng(seed)
    user_factors = rng.standard_normal((num_users, rank))
    item_factors = rng.standard_normal((num_items, rank))
    affinity = user_factors @ item_factors.T / math.sqrt(rank)  # unit variance per entry

    counts = np.maximum(rng.binomial(num_items, density, size=num_users), 1)
    # Gumbel top-k: the k largest of affinity + Gumbel noise are a draw without
    # replacement with probabilities proportional to exp(affinity).
    keys = affinity + rng.gumbel(size=affinity.shape)
    ranked = np.argsort(-keys, axis=1)
    taken = np.arange(num_items)[None, :] < counts[:, None]
    users, positions = np.nonzero(taken)
    items = ranked[users, positions]

    chosen = affinity[users, items]
    ratings = np.clip(np.rint(3.0 + chosen + noise * rng.standard_normal(len(users))), 1, 5)
    order = rng.permutation(len(users))
    timestamps = _FIRST_TIMESTAMP + np.cumsum(rng.integers(1, 600, size=len(users)))
    return Interactions.from_arrays(
        users[order] + 1,
        items[order] + 1,
        ratings[order],
        timestamps,
        num_users=num_users + 1,
        num_items=num_items + 1,
    )


def check_synthetic_options(**options: object) -> dict[str, object]:
    """Check keyword arguments for :func:`make_synthetic` without drawing any data.

    Returns
    -------
    dict
        Every argument of :func:`make_synthetic`: ``options``, and the defaults of the others.

    Raises
    ------
    ConfigError
        On an unknown option, or a value out of range, naming it and its value.
    """
    parameters = inspect.signature(make_synthetic).parameters
    unknown = sorted(str(name) for name in options if name not in parameters)
    if unknown:
        raise ConfigError(
            f"unknown synthetic option(s) {short_repr(unknown)}; expected some of {', '.join(parameters)}"
        )
    values = {name: options.get(name, parameter.default) for name, parameter in parameters.items()}
    _check_values(**values)
    return values


def _check_values(num_users, num_items, density, rank, noise, seed) -> None:
    """Raise ConfigError naming the first of :func:`make_synthetic`'s arguments out of range,
    or the arguments together when drawing would take more than :data:`MAX_DRAW_BYTES`."""
    for name, value in (("num_users", num_users), ("num_items", num_items), ("rank", rank)):
        check_count(value, name)
    if not _is_real(density) or not 0.0 < density <= 1.0:
        raise ConfigError(f"density must be a number in (0, 1], got {short_repr(density)}")
    if not _is_real(noise) or not 0.0 <= noise < math.inf:
        raise ConfigError(f"noise must be a finite number >= 0, got {short_repr(noise)}")
    check_seed(seed)
    needed = _DRAW_BYTES_PER_PAIR * num_users * num_items + 8 * rank * (num_users + num_items)  # + float64 factors
    if needed > MAX_DRAW_BYTES:
        raise ConfigError(
            f"synthetic data of num_users={num_users}, num_items={num_items} and rank={rank} needs about "
            f"{needed / 2**30:,.0f} GiB to draw (dense num_users x num_items arrays); at most "
            f"{MAX_DRAW_BYTES // 2**30} GiB is allowed"
        )


def _is_real(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)  # NaN fails the range checks
