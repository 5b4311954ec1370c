"""What replayed early-stopping rules would have kept of a finished study: compute spent,
hypervolume kept and front trials lost, per rule and arrival order.

The simulation itself (which trial a rule stops, and when) runs the study's own
scheduler code and lives in :mod:`mtlstudy.study`; this module only judges its outcomes
against the full study, so it needs neither torch nor Ray.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mtlstudy._checks import check_value
from mtlstudy.analysis._frame import complete_trials, json_records, objective_columns
from mtlstudy.analysis._hypervolume import hypervolume_2d, reference_point
from mtlstudy.analysis._pareto import pareto_mask

__all__ = ["ReplayOutcome", "StoppingReplay", "replay_summary", "REPLAY_MEASURES"]

#: The measures of one replayed study, each a fraction of the full study's: ``trial_epochs``
#: (trial-epochs trained), ``wall`` (simulated time to the last trial's end) and
#: ``hypervolume`` (of the fully trained trials' front, at the full study's reference point).
REPLAY_MEASURES: tuple[str, ...] = ("trial_epochs", "wall", "hypervolume")


@dataclass(frozen=True)
class ReplayOutcome:
    """One simulated study: a rule run over the study's trials in one arrival order.

    Attributes
    ----------
    rule : str
        The rule's name, e.g. ``"moasha+arch"``.
    order : int
        Which arrival order (0, 1, … for seeded orders; 0 for the recorded one).
    epochs_trained : mapping of str to int
        Trial id -> the epochs the trial trained before it ended or was stopped.
    wall_s, full_wall_s : float
        Simulated seconds from the first start to the last trial's end, under the rule
        and with no stopping, in the same order.
    setting : str
        The rule's settings, for people, e.g. ``"r=5, η=3"``.
    """

    rule: str
    order: int
    epochs_trained: Mapping[str, int]
    wall_s: float
    full_wall_s: float
    setting: str = ""


@dataclass(frozen=True)
class StoppingReplay:
    """Replayed early-stopping rules on a finished study, against the study itself.

    Attributes
    ----------
    value : {"final", "best"}
        The reading of the metrics that defines the fronts.
    trials : int
        The trials replayed.
    concurrency : int
        Trials at once in the simulated studies.
    arrivals : str
        Which arrival orders were replayed, for people.
    reference : tuple of float
        The hypervolume reference point: the study's worst test MSE and worst test MRR.
    front : tuple of int
        The trial numbers on the full study's front.
    summary : pandas.DataFrame
        One row per rule and setting: ``rule``, ``setting``, ``orders``, for each of :data:`REPLAY_MEASURES` its
        ``<measure>_mean``, ``_min`` and ``_max`` over the orders, ``front_stopped_mean``
        and ``front_stopped_max`` (front trials the rule stopped) and ``front_stopped_at``
        (rung epoch -> how often a front trial was stopped there, over all orders).
    outcomes : pandas.DataFrame
        One row per rule, setting and order: ``rule``, ``setting``, ``order``, the measures, ``front_stopped``
        and ``stopped`` (trial number -> epochs trained, for the trials it stopped).
    """

    value: str
    trials: int
    concurrency: int
    arrivals: str
    reference: tuple[float, float]
    front: tuple[int, ...]
    summary: pd.DataFrame
    outcomes: pd.DataFrame

    def to_dict(self) -> dict:
        """JSON-ready values: the attributes, with the summary rows as ``rules``."""
        return {
            "value": self.value,
            "trials": self.trials,
            "concurrency": self.concurrency,
            "arrivals": self.arrivals,
            "reference": list(self.reference),
            "front": list(self.front),
            "rules": json_records(self.summary),
            "outcomes": json_records(self.outcomes),
        }

    def to_text(self) -> str:
        """The summary as a table, each measure as its mean and range over the orders."""

        def spread(row: Mapping[str, object], measure: str, form: str) -> str:
            low, mean, high = (row[f"{measure}_{stat}"] for stat in ("min", "mean", "max"))
            return f"{mean:{form}} ({low:{form}}–{high:{form}})"

        table = pd.DataFrame(
            {
                "rule": f"{row['rule']} ({row['setting']})" if row["setting"] else row["rule"],
                "trial-epochs": spread(row, "trial_epochs", ".2f"),
                "wall time": spread(row, "wall", ".2f"),
                "hypervolume kept": spread(row, "hypervolume", ".3f"),
                "front trials stopped": f"{row['front_stopped_mean']:.1f} (max {row['front_stopped_max']})",
                "at rungs": ", ".join(f"{rung}: {n}" for rung, n in row["front_stopped_at"].items()) or "-",
            }
            for row in self.summary.to_dict("records")
        )
        front = ", ".join(map(str, self.front))
        return "\n".join(
            [
                f"replayed {self.trials} trials, {self.arrivals}, {self.concurrency} at a time; fronts of "
                f"{self.value} values; the full front holds trial(s) {front}",
                "each measure is the replay's fraction of the full study's: mean (min–max) over the orders",
                table.to_string(index=False),
            ]
        )


def replay_summary(
    trials: pd.DataFrame,
    outcomes: Sequence[ReplayOutcome],
    value: str = "final",
    *,
    concurrency: int = 1,
    arrivals: str = "the recorded order",
) -> StoppingReplay:
    """Judge replayed studies (``outcomes``) against the full study whose ``trials`` they replayed.

    A trial that a replay did not stop trains every epoch and ends with the values it
    ended with in the full study, so a replay's front is the full front of its fully
    trained trials; a stopped trial never counts, as its values are those of a shorter run.

    Parameters
    ----------
    trials : pandas.DataFrame
        The full study's export: its replayed trials, all COMPLETE, with ``epochs``.
    outcomes : sequence of ReplayOutcome
        What each rule did in each arrival order, over those trials' ids.
    value : {"final", "best"}
        The reading of the metrics that defines the fronts.
    concurrency, arrivals
        How the outcomes were simulated, carried into the result.

    Returns
    -------
    StoppingReplay

    Examples
    --------
    >>> import pandas as pd
    >>> trials = pd.DataFrame({"trial_id": ["a", "b"], "number": [0, 1], "state": "COMPLETE",
    ...     "shared": True, "lambda_f": 0.5, "lambda_r": 0.5, "user_bias": False, "seed": 0, "epochs": 10,
    ...     "final_test_mse": [1.0, 2.0], "final_test_mrr": [0.2, 0.1],
    ...     "best_test_mse": [1.0, 2.0], "best_test_mrr": [0.2, 0.1]})
    >>> stopped_b = ReplayOutcome("moasha", 0, {"a": 10, "b": 2}, wall_s=12.0, full_wall_s=20.0)
    >>> replay_summary(trials, [stopped_b]).summary[["rule", "trial_epochs_mean", "hypervolume_mean"]]
         rule  trial_epochs_mean  hypervolume_mean
    0  moasha                0.6               1.0
    """
    check_value(value)
    complete = complete_trials(trials)
    columns = list(objective_columns(value))
    points = complete[columns].to_numpy(dtype=float)
    reference = reference_point(complete, value)
    full_volume = hypervolume_2d(points, reference)
    epochs = dict(zip(complete["trial_id"], complete["epochs"].astype(int)))
    numbers = dict(zip(complete["trial_id"], complete["number"].astype(int)))
    front_ids = set(complete.loc[pareto_mask(points, ("min", "max")), "trial_id"])
    rows = []
    for outcome in outcomes:
        kept = np.array([outcome.epochs_trained[trial_id] >= epochs[trial_id] for trial_id in complete["trial_id"]])
        stopped = {trial_id: trained for trial_id, trained in outcome.epochs_trained.items() if trained < epochs[trial_id]}
        rows.append(
            {
                "rule": outcome.rule,
                "setting": outcome.setting,
                "order": outcome.order,
                "trial_epochs": sum(outcome.epochs_trained.values()) / sum(epochs.values()),
                "wall": outcome.wall_s / outcome.full_wall_s if outcome.full_wall_s else float("nan"),
                "hypervolume": hypervolume_2d(points[kept], reference) / full_volume if full_volume else float("nan"),
                "front_stopped": len(front_ids & stopped.keys()),
                "stopped": {numbers[trial_id]: trained for trial_id, trained in sorted(stopped.items(), key=lambda i: numbers[i[0]])},
                "front_stopped_at": Counter(trained for trial_id, trained in stopped.items() if trial_id in front_ids),
            }
        )
    frame = pd.DataFrame(rows, columns=["rule", "setting", "order", *REPLAY_MEASURES, "front_stopped", "stopped", "front_stopped_at"])
    return StoppingReplay(
        value=value,
        trials=len(complete),
        concurrency=concurrency,
        arrivals=arrivals,
        reference=reference,
        front=tuple(sorted(numbers[trial_id] for trial_id in front_ids)),
        summary=_summary(frame),
        outcomes=frame.drop(columns="front_stopped_at"),
    )


def _summary(outcomes: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for (rule, setting), group in outcomes.groupby(["rule", "setting"], sort=False):
        row: dict[str, object] = {"rule": rule, "setting": setting, "orders": len(group)}
        for measure in REPLAY_MEASURES:
            row |= {f"{measure}_{stat}": getattr(group[measure], stat)() for stat in ("mean", "min", "max")}
        at = sum(group["front_stopped_at"], Counter())
        row |= {
            "front_stopped_mean": group["front_stopped"].mean(),
            "front_stopped_max": int(group["front_stopped"].max()),
            "front_stopped_at": {int(rung): count for rung, count in sorted(at.items())},
        }
        rows.append(row)
    return pd.DataFrame(rows)
