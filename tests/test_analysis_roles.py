"""Trial roles: calibration trials stay out of every analysis, replicates are data, old exports are searched."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from _analysis_fixtures import make_export, with_roles
from mtlstudy import StudyError
from mtlstudy.analysis import (
    answer_original_questions,
    fit_tradeoff,
    hypervolume_history,
    hypervolume_table,
    pareto_table,
    reference_point,
)
from mtlstudy.analysis._frame import complete_trials, role_counts


@pytest.fixture(scope="module")
def roled():
    """An export with replicates and calibration trials at the published settings, whose
    values beat every other trial: any analysis that saw them would change."""
    trials, epochs = with_roles(*make_export(), calibration_lambdas=(0.5, 0.99))
    fresh = trials["role"] == "calibration"
    for value in ("final", "best"):
        trials.loc[fresh, f"{value}_test_mse"] = 0.5
        trials.loc[fresh, f"{value}_test_mrr"] = 0.5
    return trials, epochs


def without_calibration(trials: pd.DataFrame) -> pd.DataFrame:
    return trials[trials["role"] != "calibration"].reset_index(drop=True)


def test_calibration_trials_change_no_front_hypervolume_or_fit(roled):
    trials, _ = roled
    searched = without_calibration(trials)
    pd.testing.assert_frame_equal(pareto_table(trials), pareto_table(searched))
    pd.testing.assert_frame_equal(hypervolume_table(trials), hypervolume_table(searched))
    pd.testing.assert_frame_equal(hypervolume_history(trials, "best"), hypervolume_history(searched, "best"))
    assert reference_point(trials) == reference_point(searched)
    with_fresh, without = fit_tradeoff(trials), fit_tradeoff(searched)
    pd.testing.assert_frame_equal(with_fresh.curves, without.curves)
    pd.testing.assert_frame_equal(with_fresh.knees, without.knees)
    assert "calibration" not in set(with_fresh.points["role"])


def test_calibration_trials_answer_no_original_question(roled):
    trials, _ = roled
    with_fresh = answer_original_questions(trials)
    without = answer_original_questions(without_calibration(trials))
    pd.testing.assert_frame_equal(with_fresh.comparisons, without.comparisons)
    pd.testing.assert_frame_equal(with_fresh.published, without.published)


def test_replicates_are_fitted_and_their_groups_counted(roled):
    trials, _ = roled
    tradeoff = fit_tradeoff(trials)
    replicates = trials[(trials["role"] == "replicate") & (trials["state"] == "COMPLETE")]
    assert set(tradeoff.points.loc[tradeoff.points["role"] == "replicate", "number"]) == set(replicates["number"])
    fits = tradeoff.fits.set_index(["shared", "user_bias", "metric"])
    # 13 weights x 3 seeds per embedding variant; 2 weights x 3 seeds with a user bias.
    assert fits.loc[(True, False, "test_mse"), "replicate_groups"] == 13
    assert fits.loc[(True, True, "test_mrr"), "replicate_groups"] == 2
    assert fits.loc[(True, False, "test_mse"), "noise_source"] == "replicates"


def test_an_export_without_roles_is_all_searched():
    trials, _ = make_export()
    assert "role" not in trials.columns
    assert set(complete_trials(trials)["role"]) == {"search"}
    assert role_counts(trials) == {"search": len(trials)}


def test_a_missing_role_is_searched_and_an_unknown_one_refused(roled):
    trials, _ = roled
    blank = trials.assign(role=trials["role"].where(trials["role"] != "search", np.nan))
    assert role_counts(blank) == role_counts(trials)
    with pytest.raises(StudyError, match="column 'role' holds 'fresh'; expected one of search, replicate, calibration"):
        complete_trials(trials.assign(role=trials["role"].replace("calibration", "fresh")))


def test_an_export_of_calibration_trials_only_has_nothing_to_analyse(roled):
    trials, _ = roled
    only = trials[trials["role"] == "calibration"]
    with pytest.raises(StudyError, match=r"no complete trial outside calibration among 4 trial\(s\)"):
        pareto_table(only)
