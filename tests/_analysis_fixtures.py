"""Synthetic study exports for the analysis tests (no training involved).

:func:`make_export` builds a realistic ``(trials, epochs)`` pair shaped like the
published runs: with shared embeddings MRR and MSE both rise with λ_F (a
trade-off with a knee), separate embeddings are flat in λ; test MSE bottoms out
after a few epochs and rises (over-fitting). :func:`stop_early` turns such an
export into one whose study stopped some trials early, with its rungs table.
:func:`make_trials` builds a small trials table from a few hand-written rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mtlstudy._schema import BEST_DIRECTION, EPOCH_METRICS

DEFAULT_LAMBDAS = (0.05, 0.15, 0.25, 0.35, 0.45, 0.5, 0.55, 0.65, 0.75, 0.85, 0.9, 0.95, 0.99)


def shared_truth(lambda_f):
    """Noise-free final (test MSE, test MRR) of a shared model at λ_F."""
    lambda_f = np.asarray(lambda_f, dtype=float)
    return 0.905 + 0.115 * lambda_f**6, 0.018 + 0.03 * lambda_f**4


def _epoch_curves(final: dict[str, float], n_epochs: int, best_mse_epoch: int, rng) -> dict[str, np.ndarray]:
    epoch = np.arange(1, n_epochs + 1, dtype=float)
    curves = {}
    # Test MSE: falls to its minimum at best_mse_epoch, then rises to the final value.
    low = final["test_mse"] - 0.06
    rise = np.clip((epoch - best_mse_epoch) / max(n_epochs - best_mse_epoch, 1), 0, None) ** 2
    fall = np.clip((best_mse_epoch - epoch) / best_mse_epoch, 0, None)
    curves["test_mse"] = low + (final["test_mse"] - low) * rise + 0.5 * fall
    saturate = 1 - np.exp(-epoch / (n_epochs / 5))
    saturate /= saturate[-1]
    for metric in ("test_mrr", "test_hit_rate", "test_ndcg"):
        curves[metric] = final[metric] * saturate * (1 + 0.02 * np.sin(epoch))
    for metric in ("train_factorization_loss", "train_mse"):
        curves[metric] = final[metric] * (1 + 1.5 * np.exp(-epoch / (n_epochs / 6)))
    for metric in curves:
        curves[metric] = curves[metric] * (1 + rng.normal(0, 0.002, n_epochs))
    curves["test_mse"][-1] = final["test_mse"]
    return curves


def make_export(
    *,
    lambdas=DEFAULT_LAMBDAS,
    seeds=(0, 1, 2),
    shared=(True, False),
    n_epochs: int = 30,
    user_bias_lambdas=(0.5, 0.99),
    n_failed: int = 2,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A study export with every combination of ``shared x lambdas x seeds``.

    Parameters
    ----------
    lambdas : sequence of float
        λ_F values (λ_R = 1 - λ_F).
    seeds : sequence of int
        Repeats per setting.
    shared : sequence of bool
        Shared-flag values to run.
    n_epochs : int
        Epochs per trial.
    user_bias_lambdas : sequence of float
        λ_F values also run with shared embeddings and a user bias (MRR +0.004).
    n_failed : int
        Extra trials in state FAIL (no metrics) mixed in.
    seed : int
        Seed of the noise and of the creation order.

    Returns
    -------
    (trials, epochs) : tuple of pandas.DataFrame
        In the study module's export format.
    """
    rng = np.random.default_rng(seed)
    settings = [(s, lf, False, sd) for s in shared for lf in lambdas for sd in seeds]
    settings += [(True, lf, True, sd) for lf in user_bias_lambdas for sd in seeds]
    order = rng.permutation(len(settings) + n_failed)
    trial_rows, epoch_frames = [], []
    for position, (is_shared, lambda_f, user_bias, run_seed) in enumerate(settings):
        number = int(order[position])
        if is_shared:
            mse, mrr = shared_truth(lambda_f)
            mrr = mrr + (0.004 if user_bias else 0.0)
            factorization = 0.26 + 0.17 * (1 - lambda_f) ** 2
        else:
            mse, mrr, factorization = 0.907, 0.064, 0.247
        final = {
            "test_mse": float(mse + rng.normal(0, 0.003)),
            "test_mrr": float(mrr + rng.normal(0, 0.001)),
            "train_factorization_loss": factorization,
            "train_mse": 0.833 + 0.14 * lambda_f**6 if is_shared else 0.8325,
        }
        final["test_hit_rate"] = 4 * final["test_mrr"]
        final["test_ndcg"] = 1.5 * final["test_mrr"]
        curves = _epoch_curves(final, n_epochs, int(rng.integers(3, 8)), rng)
        curves["train_joint_loss"] = (
            lambda_f * curves["train_factorization_loss"] + (1 - lambda_f) * curves["train_mse"]
        )
        params = {
            "trial_id": f"t{number:04d}",
            "number": number,
            "shared": is_shared,
            "lambda_f": float(lambda_f),
            "lambda_r": float(1 - lambda_f),
            "user_bias": user_bias,
            "seed": int(run_seed),
        }
        epochs = pd.DataFrame({**params, "epoch": np.arange(1, n_epochs + 1), **curves})
        epochs["epoch_time_s"] = 1.0 + rng.random(n_epochs)
        epoch_frames.append(epochs)
        row = {
            **params,
            "state": "COMPLETE",
            "failure": None,
            "epochs": n_epochs,
            "stopped_epoch": pd.NA,
            "epochs_trained": n_epochs,
            "duration_s": float(epochs["epoch_time_s"].sum()),
        }
        for metric in EPOCH_METRICS:
            values = epochs[metric].to_numpy()
            index = int(np.argmin(values) if BEST_DIRECTION[metric] == "min" else np.argmax(values))
            row[f"final_{metric}"] = float(values[-1])
            row[f"best_{metric}"] = float(values[index])
            row[f"best_{metric}_epoch"] = index + 1
        trial_rows.append(row)
    for position in range(len(settings), len(settings) + n_failed):
        number = int(order[position])
        trial_rows.append(
            {"trial_id": f"t{number:04d}", "number": number, "state": "FAIL", "failure": "the trial raised an error",
             "shared": True, "lambda_f": 0.3,
             "lambda_r": 0.7, "user_bias": False, "seed": 0, "epochs": n_epochs, "stopped_epoch": pd.NA,
             "epochs_trained": 0, "duration_s": 1.0}
        )
    trials = pd.DataFrame(trial_rows).sort_values("number").reset_index(drop=True)
    trials.insert(0, "study", "synthetic-study")
    trials = trials.astype({"failure": "str", "stopped_epoch": "Int64"})
    return trials, pd.concat(epoch_frames, ignore_index=True)


def stop_early(
    trials: pd.DataFrame, epochs: pd.DataFrame, rungs=(3, 6)
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The export as if early stopping had run, and its rungs table.

    Of the complete trials, those whose ``number % (len(rungs) + 2)`` is ``k <
    len(rungs)`` become PRUNED at ``rungs[k]`` (their later epochs dropped); the
    others train every epoch. Trials arrive at a rung in ``number`` order.

    Returns
    -------
    (trials, epochs, rungs) : tuple of pandas.DataFrame
    """
    trials = trials.copy()
    complete = trials["state"] == "COMPLETE"
    slot = trials["number"] % (len(rungs) + 2)
    stop_at = pd.Series(
        [rungs[k] if done and k < len(rungs) else pd.NA for done, k in zip(complete, slot)],
        index=trials.index,
        dtype="Int64",
    )
    trials.loc[stop_at.notna(), "state"] = "PRUNED"
    trials["stopped_epoch"] = stop_at
    trials["epochs_trained"] = stop_at.fillna(trials["epochs_trained"]).astype(int)
    trained = epochs.merge(trials[["trial_id", "epochs_trained"]], on="trial_id")
    epochs = trained[trained["epoch"] <= trained["epochs_trained"]].drop(columns="epochs_trained")
    reached = epochs[epochs["epoch"].isin(rungs)].sort_values(["epoch", "number"])
    stopped = reached["trial_id"].map(dict(zip(trials["trial_id"], trials["stopped_epoch"])))
    rung_rows = pd.DataFrame(
        {
            "trial_id": reached["trial_id"],
            "number": reached["number"],
            "rung": reached["epoch"],
            "test_mse": reached["test_mse"],
            "test_mrr": reached["test_mrr"],
            "order": reached.groupby("epoch").cumcount(),
            "promoted": (stopped != reached["epoch"]).fillna(True).astype(bool),
        }
    )
    return trials, epochs.reset_index(drop=True), rung_rows.reset_index(drop=True)


def make_trials(rows: list[dict]) -> pd.DataFrame:
    """A complete-trials table from partial rows.

    Each row may give ``mse``/``mrr`` (used for both final and best unless
    ``best_mse``/``best_mrr`` are given) and any export column; the rest defaults
    to a shared λ_F = 0.5 run with seed 0.
    """
    records = []
    for number, row in enumerate(rows):
        row = dict(row)
        mse, mrr = row.pop("mse", 1.0), row.pop("mrr", 0.05)
        record = {
            "trial_id": f"t{number}",
            "number": number,
            "state": "COMPLETE",
            "shared": True,
            "lambda_f": 0.5,
            "lambda_r": 0.5,
            "user_bias": False,
            "seed": 0,
            "epochs": 10,
            "final_test_mse": mse,
            "final_test_mrr": mrr,
            "best_test_mse": row.pop("best_mse", mse),
            "best_test_mrr": row.pop("best_mrr", mrr),
        }
        record.update(row)
        records.append(record)
    return pd.DataFrame(records)


def with_roles(
    trials: pd.DataFrame, epochs: pd.DataFrame, *, calibration_lambdas=(0.1, 0.3, 0.6, 0.8, 0.92, 0.97), seed: int = 1
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The export of :func:`make_export` as a study with trial roles would give it.

    At each setting the trial with the lowest seed is the searched one and the
    others are its replicates (``replicate_of`` its number). Fresh calibration
    trials follow, shared and separate, at ``calibration_lambdas`` with seed 100,
    drawn from the same truth and noise (``seed`` seeds that noise).

    Returns
    -------
    (trials, epochs) : tuple of pandas.DataFrame
        With the columns ``role`` and ``replicate_of`` after ``failure``.
    """
    settings = ["shared", "lambda_f", "user_bias"]
    complete = trials[trials["state"] == "COMPLETE"].sort_values("seed")
    parent = complete.groupby(settings)["number"].transform("first").reindex(trials.index)
    replicate_of = parent.where(parent != trials["number"]).astype("Int64")
    roles = trials.assign(
        role=np.where(replicate_of.notna(), "replicate", "search"), replicate_of=replicate_of
    )
    fresh, fresh_epochs = make_export(
        lambdas=calibration_lambdas, seeds=(100,), n_epochs=int(epochs["epoch"].max()), user_bias_lambdas=(),
        n_failed=0, seed=seed,
    )
    offset = int(trials["number"].max()) + 1
    renumber = {old: f"t{old + offset:04d}" for old in fresh["number"]}
    fresh = fresh.assign(
        trial_id=fresh["number"].map(renumber), number=fresh["number"] + offset, role="calibration",
        replicate_of=pd.Series(pd.NA, index=fresh.index, dtype="Int64"),
    )
    fresh_epochs = fresh_epochs.assign(trial_id=fresh_epochs["number"].map(renumber),
                                       number=fresh_epochs["number"] + offset)
    combined = pd.concat([roles, fresh], ignore_index=True)
    order = list(trials.columns)
    at = order.index("failure") + 1
    combined = combined[order[:at] + ["role", "replicate_of"] + order[at:]]
    return combined, pd.concat([epochs, fresh_epochs], ignore_index=True)
