"""Ray Tune schedulers that stop trials early on several objectives at once."""

from __future__ import annotations

from mtlstudy.schedulers._moasha import MemoryRungStore, MOASHAScheduler, RungRecord, RungStore
from mtlstudy.schedulers._ranking import crowding_distances, is_promoted, nondominated_ranks, promotion_order, rung_epochs

__all__ = [
    "MOASHAScheduler",
    "MemoryRungStore",
    "RungRecord",
    "RungStore",
    "crowding_distances",
    "is_promoted",
    "nondominated_ranks",
    "promotion_order",
    "rung_epochs",
]
