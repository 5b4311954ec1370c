"""Ray Tune trainables: one trial per :class:`~mtlstudy.training.Trainer`, or a pack of trials
per :class:`~mtlstudy.training.PackedTrainer`.

What they report, and how their runs are named, is the run protocol of :mod:`mtlstudy._runs`.
"""

from __future__ import annotations

from mtlstudy._lazy import lazy_exports

#: Public name -> the module that defines it, imported when the name is first read (see :mod:`mtlstudy._lazy`).
_EXPORTS = {
    "PACK_CHECKPOINT_FILE": "._packed",
    "saved_histories": "._packed",
    "train_pack": "._packed",
    "CHECKPOINT_FILE": "._trainable",
    "TRIAL_OPTIONS": "mtlstudy._runs",
    "split_config": "mtlstudy._runs",
    "train_trial": "._trainable",
}

__all__ = list(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
