"""A study's Optuna database: its storage, its trials keyed by run, their user attributes and rung records.

The database is the study's source of truth: every Optuna trial carries the id of
its run, its training parameters and, under early stopping, its rung records as user
attributes, so a new driver can pick up a study from the database alone. The storage
is a SQLAlchemy database or a journal file, opened by URL, whose faults
:mod:`~mtlstudy.study._storage_faults` waits out or turns into one line.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy
from optuna.storages import JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import FrozenTrial, TrialState

from mtlstudy._errors import MtlStudyError, StudyError
from mtlstudy._files import atomic_path
from mtlstudy._runs import FAILURE_KEY, RungRecord, objective_key
from mtlstudy._schema import OBJECTIVES, ROLES
from mtlstudy.study._spec import StudySpec
from mtlstudy.study._storage_faults import GuardedStorage, call
from mtlstudy.study._storage_url import connect_url, hide_password

__all__ = [
    "JOURNAL_SCHEME",
    "open_storage",
    "load_study",
    "storage_file",
    "StudyDatabase",
    "OpensDatabase",
    "OptunaRungStore",
    "RAY_TRIAL_ID",
    "PARAMS_ATTR",
    "RUNGS_ATTR",
    "STOPPED_EPOCH_ATTR",
    "FAILURE_ATTR",
    "ERROR_FAILURE",
    "ROLE_ATTR",
    "REPLICATE_OF_ATTR",
    "role_of",
    "rung_records",
]

#: URL scheme of a journal file: ``journal:///abs/path/study.log`` or ``journal://relative/study.log``.
JOURNAL_SCHEME = "journal://"

#: The URLs of the storages that answered in this process. A failure to reach one of them is an outage,
#: waited out; a storage that never answered is misconfigured (a wrong host, port, password or database
#: name: the drivers report these alike), refused at once.
_ANSWERED: set[str] = set()


def storage_file(url: str) -> Path | None:
    """The file a SQLite or journal URL names; None for a database server (or in-memory SQLite)."""
    if url.startswith(JOURNAL_SCHEME):
        return Path(url[len(JOURNAL_SCHEME) :])
    try:
        parsed = sqlalchemy.engine.make_url(url)
    except (sqlalchemy.exc.ArgumentError, ValueError):  # ValueError: a port that is no number
        raise StudyError(
            f"storage must be a SQLAlchemy URL (sqlite:///path, postgresql://...) or {JOURNAL_SCHEME}path, "
            f"got {hide_password(url)!r}"
        ) from None
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def open_storage(url: str, existing: bool = False) -> optuna.storages.BaseStorage:
    """Open the Optuna storage at ``url``, creating its tables or file unless ``existing``.

    Parameters
    ----------
    url : str
        A SQLAlchemy URL (``sqlite:///path``, ``postgresql://user@host/db``) or a journal
        file, ``journal:///path``; a journal suits a shared file system, where SQLite's
        locks are unreliable.
    existing : bool
        The storage must exist already: a missing SQLite or journal file is an error
        instead of a new, empty study database.

    Messages name the URL with its password masked; the connection gets the password that
    :func:`~mtlstudy.study._storage_url.connect_url` finds. Every call of the storage
    returned, and opening a storage that answered before in this process, waits out an
    outage (see :func:`~mtlstudy.study._storage_faults.call`).

    Raises
    ------
    StudyError
        If the URL is malformed, its driver is missing, the storage cannot be opened,
        or it did not answer for :data:`~mtlstudy.study._storage_faults.OUTAGE_S` seconds.
    NoSpaceError
        If the disk of a SQLite or journal file is full.
    """
    path = storage_file(url)
    if existing and path is not None and not path.is_file():
        raise StudyError(f"the study database {str(path)!r} does not exist (storage {hide_password(url)!r})")
    try:
        storage = call(url, path, url in _ANSWERED, _open, url, path)
    except MtlStudyError:
        raise
    except (ImportError, OSError, ValueError, sqlalchemy.exc.SQLAlchemyError) as error:
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise StudyError(f"cannot open storage {hide_password(url)!r}: {reason}") from None
    _ANSWERED.add(url)
    return GuardedStorage(storage, url, path)


def _open(url: str, path: Path | None) -> optuna.storages.BaseStorage:
    """The storage at ``url``, whose file, if it has one, is ``path`` (see :func:`open_storage`)."""
    if url.startswith(JOURNAL_SCHEME):
        return JournalStorage(JournalFileBackend(str(path)))
    if path is not None and not path.exists():
        # Built beside and renamed into place, a new SQLite file is never seen without its
        # tables: a reader (`study status`) would create them too, and one of the two would fail.
        with atomic_path(path) as temporary:
            RDBStorage(f"sqlite:///{temporary}").engine.dispose()
    # Pre-ping: a pooled connection that a server's restart closed is replaced before use, not handed
    # out broken. get_storage adds Optuna's cache of finished trials, as optuna.create_study would.
    return optuna.storages.get_storage(RDBStorage(connect_url(url), engine_kwargs={"pool_pre_ping": True}))


def load_study(name: str, url: str) -> optuna.Study:
    """Study ``name`` from the existing storage at ``url``; StudyError if either is missing."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return _load(name, open_storage(url, existing=True), url)


def _load(name: str, storage: optuna.storages.BaseStorage, url: str) -> optuna.Study:
    try:
        return optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        raise StudyError(f"storage {hide_password(url)!r} holds no study {name!r}") from None


#: Optuna user attribute linking an Optuna trial to its run: the Ray trial's id, or for
#: member k of a packed Ray trial ``<ray id>/m<k>`` (see :func:`~mtlstudy._runs.member_run_id`).
RAY_TRIAL_ID = "ray_trial_id"
#: Optuna user attribute holding the trial's training parameters.
PARAMS_ATTR = "params"
#: Optuna user attribute holding the trial's rung records, in rung order.
RUNGS_ATTR = "rungs"
#: Optuna user attribute of a stopped (PRUNED) trial: the last epoch it trained.
STOPPED_EPOCH_ATTR = "stopped_epoch"
#: Optuna user attribute of a failed (FAIL) trial: why, e.g. "diverged at epoch 3: non-finite training loss".
FAILURE_ATTR = "failure"
#: The :data:`FAILURE_ATTR` of a trial whose Ray trial raised an error for a reason not known.
ERROR_FAILURE = "the trial raised an error"
#: Optuna user attribute: what the trial is for, one of :data:`~mtlstudy._schema.ROLES`
#: (a trial without it is a ``"search"`` trial of a study made before roles existed).
ROLE_ATTR = "role"
#: Optuna user attribute of a ``"replicate"`` trial: the Optuna number of the trial it retrains.
REPLICATE_OF_ATTR = "replicate_of"


def role_of(trial: FrozenTrial) -> str:
    """The trial's role (see :data:`ROLE_ATTR`)."""
    return trial.user_attrs.get(ROLE_ATTR, ROLES[0])


class StudyDatabase:
    """The study's Optuna trials, keyed by Ray trial id.

    Opens the study in ``spec``'s storage, creating it if needed, or with ``existing``
    only if it exists (StudyError otherwise). Attributes of existing trials are written
    through the storage's public methods.
    """

    def __init__(self, spec: StudySpec, existing: bool = False) -> None:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.spec = spec
        self.storage = open_storage(spec.storage_url, existing=existing)
        if existing:
            self.study = _load(spec.name, self.storage, spec.storage_url)
        else:
            self.study = optuna.create_study(
                study_name=spec.name,
                storage=self.storage,
                sampler=spec.make_sampler(),
                directions=["minimize" if direction == "min" else "maximize" for direction in OBJECTIVES.values()],
                load_if_exists=True,
            )
        self._study_id = self.storage.get_study_id_from_name(spec.name)
        if self.study.metric_names is None:  # a new study: make it describe itself to Optuna's tools
            with warnings.catch_warnings():  # experimental since Optuna 3.2, still so in the pinned 5.0
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                self.study.set_metric_names(list(OBJECTIVES))
            self.study.set_user_attr("spec", spec.to_dict())
            self.study.set_user_attr("versions", _versions())

    def latest(self) -> dict[str, FrozenTrial]:
        """Ray trial id -> its newest Optuna trial (a retried trial has several)."""
        latest: dict[str, FrozenTrial] = {}
        for trial in self.study.get_trials(deepcopy=False):
            ray_id = trial.user_attrs.get(RAY_TRIAL_ID)
            if ray_id is not None:
                latest[ray_id] = trial
        return latest

    def orphans(self) -> list[FrozenTrial]:
        """RUNNING trials that no Ray trial runs: waiting ones made before their phase (replicates,
        calibration trials), or asked by a driver that died before it named the Ray trial; oldest first."""
        running = self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        return [t for t in running if t.user_attrs.get(RAY_TRIAL_ID) is None]

    def set_user_attr(self, trial: FrozenTrial, key: str, value: Any) -> None:
        """Set a user attribute of an existing trial."""
        trial_id = self.storage.get_trial_id_from_study_id_trial_number(self._study_id, trial.number)
        self.storage.set_trial_user_attr(trial_id, key, value)

    def finish(self, trial: FrozenTrial, result: Mapping[str, Any] | None, error: str | None = None) -> TrialState:
        """Tell Optuna how a Ray trial ended, from its last result, or ``error``: why it raised an error.

        An error, a diverged trial (a result with a :data:`~mtlstudy._runs.FAILURE_KEY`)
        or a result without both objectives is FAIL, with the reason in :data:`FAILURE_ATTR`;
        a trial that trained fewer epochs than the study's was stopped early and is
        PRUNED, with the epoch it stopped at; any other is COMPLETE with its objective values.
        """
        result = result or {}
        values = [result.get(objective_key(metric)) for metric in OBJECTIVES]
        epoch = result.get("epoch")
        failure = _failure(result, values, error)
        if failure is not None:
            state = TrialState.FAIL
            self.set_user_attr(trial, FAILURE_ATTR, failure)
            self.study.tell(trial.number, state=state)
        elif epoch < self.spec.epochs:
            state = TrialState.PRUNED
            self.set_user_attr(trial, STOPPED_EPOCH_ATTR, int(epoch))
            self.study.tell(trial.number, state=state)
        else:
            state = TrialState.COMPLETE
            self.study.tell(trial.number, values)
        return state


class OpensDatabase:
    """Opens the study's database on first use; Ray pickles the objects that hold it."""

    spec: StudySpec
    _database: StudyDatabase | None = None

    @property
    def database(self) -> StudyDatabase:
        if self._database is None:
            self._database = StudyDatabase(self.spec)
        return self._database

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_database": None}


class OptunaRungStore(OpensDatabase):
    """A :class:`~mtlstudy._runs.RungStore` in the study's database.

    Each trial's records are a list under the :data:`RUNGS_ATTR` user attribute of
    its newest Optuna trial; arrival order is counted per rung over Ray trials.
    """

    def __init__(self, spec: StudySpec) -> None:
        self.spec = spec

    def record(self, trial_id: str, rung: int) -> RungRecord | None:
        trial = self.database.latest().get(trial_id)
        return None if trial is None else next((r for r in rung_records(trial) if r.rung == rung), None)

    def records(self, rung: int) -> dict[str, RungRecord]:
        found = [
            (r.order, trial_id, r)
            for trial_id, trial in self.database.latest().items()
            for r in rung_records(trial)
            if r.rung == rung
        ]
        return {trial_id: record for _, trial_id, record in sorted(found)}

    def add(self, trial_id: str, record: RungRecord) -> None:
        trial = self.database.latest()[trial_id]
        saved = [*trial.user_attrs.get(RUNGS_ATTR, []), _record_attr(record)]
        self.database.set_user_attr(trial, RUNGS_ATTR, sorted(saved, key=lambda item: item["rung"]))


def rung_records(trial: FrozenTrial) -> list[RungRecord]:
    """The rung records stored on an Optuna trial, in rung order."""
    return [
        RungRecord(
            rung=item["rung"],
            values=tuple(item[metric] for metric in OBJECTIVES),
            order=item["order"],
            promoted=item["promoted"],
            ladder=item.get("ladder", ""),
        )
        for item in trial.user_attrs.get(RUNGS_ATTR, [])
    ]


def _record_attr(record: RungRecord) -> dict[str, Any]:
    return {
        "rung": record.rung,
        **dict(zip(OBJECTIVES, record.values)),
        "order": record.order,
        "promoted": record.promoted,
        **({"ladder": record.ladder} if record.ladder else {}),
    }


def _failure(result: Mapping[str, Any], values: list[Any], error: str | None) -> str | None:
    """Why a Ray trial that ended with ``result`` (objective ``values``), or ``error``, failed; None if it did not."""
    if error is not None:
        return error
    if result.get(FAILURE_KEY):
        return str(result[FAILURE_KEY])
    if result.get("epoch") is None or any(v is None or not math.isfinite(v) for v in values):
        return "no finite objective values reported"
    return None


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    return {package: version(package) for package in ("mtlstudy", "ray", "optuna", "torch")}
