"""make_synthetic: determinism, value ranges, and planted, learnable structure."""

from __future__ import annotations

import numpy as np
import pytest

from mtlstudy import ConfigError
from mtlstudy.data import Interactions, make_synthetic

FIELDS = ("user_ids", "item_ids", "ratings", "timestamps")


def test_same_seed_gives_identical_arrays_and_other_seeds_differ():
    first, second, other = make_synthetic(seed=11), make_synthetic(seed=11), make_synthetic(seed=12)
    for field in FIELDS:
        np.testing.assert_array_equal(getattr(first, field), getattr(second, field))
    assert not np.array_equal(first.item_ids[:100], other.item_ids[:100])


def test_values_ranges_and_dtypes():
    interactions = make_synthetic(num_users=50, num_items=80, density=0.1, seed=1)
    assert isinstance(interactions, Interactions)
    assert (interactions.num_users, interactions.num_items) == (51, 81)
    assert interactions.user_ids.min() >= 1 and interactions.user_ids.max() <= 50
    assert interactions.item_ids.min() >= 1 and interactions.item_ids.max() <= 80
    assert set(np.unique(interactions.ratings)) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    assert interactions.ratings.dtype == np.float32 and interactions.user_ids.dtype == np.int64
    assert np.all(np.diff(interactions.timestamps) > 0)
    pairs = interactions.user_ids * 1000 + interactions.item_ids
    assert len(np.unique(pairs)) == len(interactions)
    assert len(np.unique(interactions.user_ids)) == 50  # every user rates at least one item
    assert 0.5 * 50 * 80 * 0.1 < len(interactions) < 1.5 * 50 * 80 * 0.1


def test_defaults_are_the_documented_size():
    interactions = make_synthetic()
    assert (interactions.num_users, interactions.num_items) == (301, 401)
    assert 0.8 * 300 * 400 * 0.05 < len(interactions) < 1.2 * 300 * 400 * 0.05


def test_density_one_rates_every_item_once():
    interactions = make_synthetic(num_users=4, num_items=6, density=1.0)
    assert len(interactions) == 24


def test_rated_items_carry_rating_signal():
    # The same affinity drives both which items are rated and how highly: items that are
    # rated often are also rated above average, so both tasks have something to learn.
    interactions = make_synthetic(num_users=400, num_items=200, density=0.1, noise=0.0, seed=2)
    counts = np.bincount(interactions.item_ids, minlength=interactions.num_items)[1:]
    sums = np.bincount(interactions.item_ids, weights=interactions.ratings, minlength=interactions.num_items)[1:]
    rated = counts > 0
    assert np.corrcoef(counts[rated], sums[rated] / counts[rated])[0, 1] > 0.3


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"num_users": 0}, r"num_users must be an integer >= 1, got 0"),
        ({"num_items": 2.5}, r"num_items must be an integer, got 2.5"),
        ({"rank": True}, r"rank must be an integer, got True"),
        ({"density": 0.0}, r"density must be a number in \(0, 1\], got 0.0"),
        ({"density": float("nan")}, r"density must be a number in \(0, 1\], got nan"),
        ({"noise": -1}, r"noise must be a finite number >= 0, got -1"),
        ({"seed": -3}, r"seed must be an integer from 0 to 4294967295 \(a 32-bit seed\), got -3"),
        ({"seed": 2**32}, r"seed must be an integer from 0 to 4294967295 \(a 32-bit seed\), got 4294967296"),
        ({"seed": "1"}, r"seed must be an integer from 0 to 4294967295 \(a 32-bit seed\), got '1'"),
        (
            {"num_users": 100_000, "num_items": 100_000},
            r"synthetic data of num_users=100000, num_items=100000 and rank=4 needs about 298 GiB to draw "
            r"\(dense num_users x num_items arrays\); at most 4 GiB is allowed",
        ),
        (
            {"rank": 10**8},
            r"synthetic data of num_users=300, num_items=400 and rank=100000000 needs about 522 GiB to draw "
            r"\(dense num_users x num_items arrays\); at most 4 GiB is allowed",
        ),
    ],
)
def test_bad_options_raise_config_error_with_the_value(options, message):
    with pytest.raises(ConfigError, match=f"^{message}$"):
        make_synthetic(**options)

