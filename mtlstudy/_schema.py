"""Names of the metrics, of the columns and of the folder of runs that every part of mtlstudy agrees on.

One epoch of training yields a dict keyed by :data:`EPOCH_METRICS`; the study
export (one row per trial) carries ``final_<metric>`` and ``best_<metric>`` columns
for them, next to the trial's parameters in :data:`PARAM_COLUMNS`. A run that holds
validation rows out of its training rows adds the :data:`VALIDATION_METRICS`
(:func:`epoch_metrics`).
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_DIR",
    "TENSORBOARD_TAGS",
    "EPOCH_METRICS",
    "VALIDATION_METRICS",
    "VALIDATION_TAGS",
    "epoch_metrics",
    "METRIC_NAMES",
    "OBJECTIVES",
    "PARAM_COLUMNS",
    "BEST_DIRECTION",
    "RUNG_COLUMNS",
    "ROLES",
    "VALUES",
]

#: The folder of studies and training runs when none is given (``--dir``).
DEFAULT_DIR = "./mtlstudy-runs"

#: Metric key -> the TensorBoard tag SPEC.md prescribes for it (step = epoch).
TENSORBOARD_TAGS: dict[str, str] = {
    "train_factorization_loss": "training/Factorization Loss",
    "train_mse": "training/MSE",
    "train_joint_loss": "training/Joint Loss",
    "test_mse": "eval/MSE",
    "test_mrr": "eval/Mean Reciprocal Rank",
}

#: Every metric a trainer reports per epoch, in report order.
EPOCH_METRICS: tuple[str, ...] = (
    *TENSORBOARD_TAGS,
    "test_hit_rate",
    "test_ndcg",
)

#: Each test metric's validation counterpart. A run with validation rows (``validation_fraction``
#: > 0) reports these too, every epoch, and they choose for it: a test metric's best epoch is its
#: counterpart's, and early stopping ranks the counterparts, so test rows never decide.
VALIDATION_METRICS: dict[str, str] = {
    "test_mse": "val_mse",
    "test_mrr": "val_mrr",
    "test_hit_rate": "val_hit_rate",
    "test_ndcg": "val_ndcg",
}

#: Validation metric -> its TensorBoard tag, beside SPEC.md's eval tags (runs with validation rows only).
VALIDATION_TAGS: dict[str, str] = {"val_mse": "validation/MSE", "val_mrr": "validation/Mean Reciprocal Rank"}


def epoch_metrics(validation: bool) -> tuple[str, ...]:
    """Every metric an epoch reports, in report order: :data:`EPOCH_METRICS`, then, for a run
    with validation rows, the :data:`VALIDATION_METRICS`."""
    return (*EPOCH_METRICS, *VALIDATION_METRICS.values()) if validation else EPOCH_METRICS


#: How a person reads each metric's name, in messages, tables and figures.
METRIC_NAMES: dict[str, str] = {
    "train_factorization_loss": "train factorization loss",
    "train_mse": "train MSE",
    "train_joint_loss": "train joint loss",
    "test_mse": "test MSE",
    "test_mrr": "test MRR",
    "test_hit_rate": "test hit rate",
    "test_ndcg": "test NDCG",
    "val_mse": "validation MSE",
    "val_mrr": "validation MRR",
    "val_hit_rate": "validation hit rate",
    "val_ndcg": "validation NDCG",
}

#: Which way is better for each metric ("min" or "max").
BEST_DIRECTION: dict[str, str] = {
    "train_factorization_loss": "min",
    "train_mse": "min",
    "train_joint_loss": "min",
    "test_mse": "min",
    "test_mrr": "max",
    "test_hit_rate": "max",
    "test_ndcg": "max",
    "val_mse": "min",
    "val_mrr": "max",
    "val_hit_rate": "max",
    "val_ndcg": "max",
}

#: The two study objectives and their directions.
OBJECTIVES: dict[str, str] = {"test_mse": "min", "test_mrr": "max"}

#: Hyperparameters every trial row of a study export carries.
PARAM_COLUMNS: tuple[str, ...] = ("shared", "lambda_f", "lambda_r", "user_bias", "seed")

#: Columns of a study's rung table: one row per trial and early-stopping rung it reached. ``ladder``
#: names the trials it was ranked against ("" when a rule ranks every trial together).
RUNG_COLUMNS: tuple[str, ...] = ("trial_id", "number", "rung", *OBJECTIVES, "order", "promoted", "ladder")

#: Why a trial exists: sampled by the study's sampler, retrained from another trial with a new seed,
#: or trained by ``mtlstudy calibrate`` to check the trade-off bands (never fitted).
ROLES = ("search", "replicate", "calibration")

#: Which epoch's value of a metric a trial is judged by: its last ("final") or its best ("best").
VALUES = ("final", "best")
