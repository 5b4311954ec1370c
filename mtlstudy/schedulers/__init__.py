"""Ray Tune schedulers that stop trials early on several objectives at once.

They read trial results, and keep their decisions, through the run protocol of
:mod:`mtlstudy._runs` (:class:`~mtlstudy._runs.RungStore`, :class:`~mtlstudy._runs.RungRecord`).
"""

from __future__ import annotations

from mtlstudy.schedulers._moasha import MOASHAScheduler
from mtlstudy.schedulers._ranking import crowding_distances, is_promoted, nondominated_ranks, promotion_order, rung_epochs

__all__ = [
    "MOASHAScheduler",
    "crowding_distances",
    "is_promoted",
    "nondominated_ranks",
    "promotion_order",
    "rung_epochs",
]
