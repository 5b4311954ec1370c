"""Each built-in search space samples what its docstring says, with Optuna directly."""

from __future__ import annotations

import optuna
import pytest

from mtlstudy._errors import ConfigError
from mtlstudy.search_spaces import SEED_GRID_POINTS, SEPARATE_LAMBDA, USER_BIAS_POINT, get_space, register_space
from mtlstudy.study import resolve_spec

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _sample(space: str, n: int = 40, **spec_options):
    spec = resolve_spec(space=space, dataset="synthetic", **spec_options)
    study = optuna.create_study(sampler=spec.make_sampler(), directions=["minimize", "maximize"])
    samples = []
    for _ in range(n):
        trial = study.ask()
        returned = spec.search_space(trial, spec)
        samples.append({**trial.params, **returned})
        try:
            study.tell(trial, [0.0, 0.0])
        except RuntimeError:  # GridSampler stops the study once its grid is done
            pass
    return samples


def test_simplex_keeps_lambda_r_one_minus_lambda_f_within_range():
    samples = _sample("simplex", lambda_f_range=(0.01, 0.9))
    assert {s["shared"] for s in samples} == {True, False}
    for s in samples:
        assert 0.01 <= s["lambda_f"] <= 0.9
        assert s["lambda_r"] == pytest.approx(1 - s["lambda_f"])
    linear = _sample("simplex", lambda_log=False, lambda_f_range=(0.2, 0.3))
    assert all(0.2 <= s["lambda_f"] <= 0.3 and s["lambda_r"] == pytest.approx(1 - s["lambda_f"]) for s in linear)


def test_independent_samples_each_weight_on_its_range():
    samples = _sample("independent", lambda_f_range=(0.01, 1.0), lambda_r_range=(0.1, 10.0))
    assert all(0.01 <= s["lambda_f"] <= 1.0 and 0.1 <= s["lambda_r"] <= 10.0 for s in samples)
    assert len({round(s["lambda_f"] + s["lambda_r"], 6) for s in samples}) > 1


def test_conditional_fixes_lambda_for_separate_embeddings():
    samples = _sample("conditional")
    separate = [s for s in samples if not s["shared"]]
    shared = [s for s in samples if s["shared"]]
    assert separate and shared
    assert all((s["lambda_f"], s["lambda_r"]) == SEPARATE_LAMBDA for s in separate)
    assert len({s["lambda_f"] for s in shared}) == len(shared)


def test_seed_grid_covers_each_point_and_seed_exactly_once():
    samples = _sample("seed-grid", n=8, seeds=2, seed=5)
    got = sorted((s["shared"], s["lambda_f"], s["lambda_r"], s["user_bias"], s["seed"]) for s in samples)
    assert got == sorted((*point, seed) for point in SEED_GRID_POINTS for seed in (5, 6))
    with_bias = _sample("seed-grid", n=5, user_bias_point=True)
    assert sorted(tuple(s[k] for k in ("shared", "lambda_f", "lambda_r", "user_bias")) for s in with_bias) == sorted(
        (*SEED_GRID_POINTS, USER_BIAS_POINT)
    )


def test_user_spaces_by_decorator_and_dotted_path():
    @register_space("test-shared-only")
    def shared_only(trial, spec):
        lambda_f = trial.suggest_float("lambda_f", *spec.lambda_f_range)
        return {"shared": True, "lambda_r": 1.0 - lambda_f}

    assert all(s["shared"] for s in _sample("test-shared-only", n=5))
    assert get_space("mtlstudy.search_spaces:simplex").function is get_space("simplex").function
    with pytest.raises(ConfigError, match="no_such_space"):
        get_space("mtlstudy.search_spaces:no_such_space")
