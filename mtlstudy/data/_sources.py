"""Where the ratings come from: a user's file, the local cache, or a download.

MovieLens-100K is looked for, in order, at a path the user gives, in the cache
(:func:`cache_dir`), in the GroupLens zip, and in the copy RecBole's wheel ships
(which pip can fetch from a package index or mirror where GroupLens is out of
reach). Every copy is checked against :data:`ML100K_SHA256`; a downloaded copy
reaches the cache only after it passes, through an atomic rename.
"""

from __future__ import annotations

import http.client
import io
import math
import os
import subprocess
import sys
import tempfile
import urllib.request
import warnings
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from mtlstudy._checks import check_file, short_repr
from mtlstudy._errors import ConfigError, DataError, DataSizeWarning
from mtlstudy._files import atomic_path
from mtlstudy.data._interactions import Interactions
from mtlstudy.data._readers import canonical_bytes, parse_ratings, ratings_sha256, read_ratings, to_interactions
from mtlstudy.data._synthetic import check_synthetic_options, make_synthetic

__all__ = [
    "ML100K_SHA256",
    "DATASETS",
    "Dataset",
    "check_dataset",
    "cache_dir",
    "fetch_movielens",
    "load_dataset",
    "dataset_summary",
]

#: sha256 of MovieLens-100K's ratings rendered as ``user\titem\trating\ttimestamp\n``
#: lines in file order: the bytes of ``u.data`` and of the ``.inter`` body alike.
ML100K_SHA256 = "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490"

#: Names :func:`load_dataset` accepts.
DATASETS: tuple[str, ...] = ("ml-100k", "synthetic")

GROUPLENS_URL = "https://files.grouplens.org/datasets/movielens/ml-100k.zip"
RECBOLE_VERSION = "1.2.1"
_GROUPLENS_MEMBER = "ml-100k/u.data"
_RECBOLE_MEMBER = "recbole/dataset_example/ml-100k/ml-100k.inter"
# Short, so a machine without internet falls through to the next source quickly.
_HTTP_TIMEOUT_S = 10
_PIP_TIMEOUT_S = 300
_CHUNK = 1 << 16
# Test rows are this share of a user's ratings under the default split (--test-fraction).
_TEST_SHARE = 0.05


@dataclass(frozen=True)
class Dataset:
    """Loaded interactions and where they came from.

    Attributes
    ----------
    interactions : mtlstudy.data.Interactions
    name : str
        ``"ml-100k"`` or ``"synthetic"``.
    source : str
        Where the rows came from, for people: a path, ``"cache <path>"``,
        ``"GroupLens download"``, ``"recbole 1.2.1 wheel"`` or the synthetic options.
    """

    interactions: Interactions
    name: str
    source: str


def cache_dir() -> Path:
    """The data cache: ``$MTLSTUDY_DATA_DIR`` if set, else ``~/.cache/mtlstudy``."""
    configured = os.environ.get("MTLSTUDY_DATA_DIR")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "mtlstudy"


def load_dataset(
    name: str = "ml-100k",
    path: str | os.PathLike | None = None,
    *,
    verify: bool = True,
    progress: bool = False,
    **synthetic_options,
) -> Dataset:
    """Load MovieLens-100K or a synthetic data set as :class:`Dataset`.

    Parameters
    ----------
    name : str
        ``"ml-100k"`` or ``"synthetic"``.
    path : str or os.PathLike, optional
        For ``"ml-100k"``: a ``u.data``, ``user,item,rating[,timestamp]`` CSV or RecBole
        ``.inter`` file to read instead of the cache/download (:func:`fetch_movielens`).
    verify : bool
        Check a ``path``'s ratings against :data:`ML100K_SHA256`. Turn off to use another
        data set in one of those formats. The cache and downloads are always checked.
    progress : bool
        Show download progress on stderr if MovieLens-100K must be fetched.
    **synthetic_options
        For ``"synthetic"``: the options of :func:`make_synthetic`.

    Returns
    -------
    Dataset

    Raises
    ------
    ConfigError
        On an unknown name or option, or a bad synthetic option value.
    DataError
        If a file is malformed, fails its checksum, or no source can provide the data.

    Warns
    -----
    DataSizeWarning
        If evaluating the data set will take far more memory than MovieLens-100K's (see
        :func:`check_dataset` for synthetic data).
    """
    check_dataset(name, path, synthetic_options)
    if name == "synthetic":
        options = ", ".join(f"{key}={value!r}" for key, value in synthetic_options.items())
        return Dataset(make_synthetic(**synthetic_options), name, f"make_synthetic({options})")

    if path is None:
        _, source, frame = _fetch(progress)
    else:
        frame, source = read_ratings(path), str(path)
        if verify:
            _verify(frame, source, "pass --no-verify (verify=False) to use a different data set")
    interactions = to_interactions(frame)
    _warn_if_large(
        interactions.num_users, interactions.num_items, int(np.bincount(interactions.user_ids).max()), source
    )
    return Dataset(interactions, name, source)


def check_dataset(
    name: str, path: str | os.PathLike | None = None, options: Mapping[str, Any] | None = None
) -> None:
    """Check what :func:`load_dataset` is asked for, without loading anything.

    A study calls this before it starts Ray, so that a bad name or option is one
    error instead of a failure in every trial.

    Parameters
    ----------
    name, path
        As for :func:`load_dataset`.
    options : mapping, optional
        The synthetic options :func:`load_dataset` would get as keyword arguments.

    Raises
    ------
    ConfigError
        On an unknown name, a path given with synthetic data, options that are not a
        mapping or do not apply to ``name``, or a synthetic option out of range.
    DataError
        If ``path`` is not a regular file that can be read: missing, a folder, a fifo or a
        device (looked at without opening it, so neither blocks), or unreadable.

    Warns
    -----
    DataSizeWarning
        If evaluating the synthetic data asked for will take far more memory than
        MovieLens-100K's (:func:`load_dataset` warns about a file's once it has read it).
    """
    if name not in DATASETS:
        raise ConfigError(f"unknown dataset {short_repr(name)}; expected one of {', '.join(DATASETS)}")
    options = {} if options is None else options
    if not isinstance(options, Mapping):
        raise ConfigError(f"dataset options must be a mapping of KEY: VALUE, got {short_repr(options)}")
    if name == "synthetic":
        if path is not None:
            raise ConfigError(
                f"a data path applies to ml-100k only, not to the synthetic dataset (got {short_repr(str(path))})"
            )
        values = check_synthetic_options(**options)
        _warn_if_large(
            values["num_users"] + 1, values["num_items"] + 1, math.ceil(values["density"] * values["num_items"]),
            f"synthetic data of {values['num_users']} users and {values['num_items']} items",
        )
    elif options:
        raise ConfigError(f"option(s) {short_repr(sorted(map(str, options)))} apply to the synthetic dataset only")
    elif path is not None:
        check_file(path, "data file", DataError)


def fetch_movielens(progress: bool = True) -> tuple[Path, str]:
    """Make sure the cache holds a verified MovieLens-100K ``u.data``.

    Parameters
    ----------
    progress : bool
        Report each step on stderr, with a progress bar for the GroupLens download.

    Returns
    -------
    path : pathlib.Path
        ``cache_dir() / "ml-100k" / "u.data"``.
    source : str
        ``"cache <path>"`` on a cache hit, else the source the rows came from.

    Raises
    ------
    DataError
        If the cached copy fails its checksum, or every source fails (the message
        gives each one's reason).
    """
    path, source, _ = _fetch(progress)
    return path, source


def dataset_summary(dataset: Dataset) -> dict[str, object]:
    """Counts that describe a data set, for ``mtlstudy data info``.

    Returns
    -------
    dict
        ``dataset``, ``source``, ``users`` and ``items`` (distinct ids rated),
        ``ratings``, ``table sizes`` (``num_users x num_items``), ``rating mean`` and
        ``rating distribution`` (rating -> count, ratings printed as integers when
        integral).
    """
    interactions = dataset.interactions
    values, counts = np.unique(interactions.ratings, return_counts=True)
    return {
        "dataset": dataset.name,
        "source": dataset.source,
        "users": len(np.unique(interactions.user_ids)),
        "items": len(np.unique(interactions.item_ids)),
        "ratings": len(interactions),
        "table sizes": f"{interactions.num_users} x {interactions.num_items}",
        "rating mean": round(float(interactions.ratings.mean()), 4),
        "rating distribution": {
            (int(value) if float(value).is_integer() else float(value)): int(count)
            for value, count in zip(values, counts)
        },
    }


def _fetch(progress: bool) -> tuple[Path, str, pd.DataFrame]:
    """The cached ratings, filling the cache from the first download source that works."""
    path = cache_dir() / "ml-100k" / "u.data"
    if path.exists():
        frame = read_ratings(path)
        _verify(frame, str(path), f"delete {path} to fetch MovieLens-100K again")
        return path, f"cache {path}", frame

    # Looked up at call time so that tests can replace the downloaders.
    downloads = (
        ("GroupLens download", _download_grouplens),
        (f"recbole {RECBOLE_VERSION} wheel", _download_recbole_wheel),
    )
    errors = []
    for source, download in downloads:
        _say(progress, f"MovieLens-100K: trying the {source}")
        try:
            data, fmt, label = download(progress)
            frame = parse_ratings(data, fmt, label)
            _verify(frame, label, "this copy is not MovieLens-100K")
        except DataError as error:
            _say(progress, f"{source} failed: {error}")
            errors.append(f"{source}: {error}")
            continue
        _write_atomically(path, canonical_bytes(frame))
        _say(progress, f"verified sha256 {ML100K_SHA256[:12]}; cached {len(frame)} ratings at {path}")
        return path, source, frame
    raise DataError(
        f"cannot get MovieLens-100K ({'; '.join(errors)}); put its u.data at {path} "
        "or pass the file's path (--data)"
    )


def _download_grouplens(progress: bool) -> tuple[bytes, str, str]:
    """``u.data`` out of the GroupLens zip, held in memory (about 5 MB)."""
    try:
        with urllib.request.urlopen(GROUPLENS_URL, timeout=_HTTP_TIMEOUT_S) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            buffer = io.BytesIO()
            with tqdm(total=total, unit="B", unit_scale=True, desc="ml-100k.zip", disable=not progress) as bar:
                while chunk := response.read(_CHUNK):
                    buffer.write(chunk)
                    bar.update(len(chunk))
        with zipfile.ZipFile(buffer) as archive:
            data = archive.read(_GROUPLENS_MEMBER)
    except (OSError, http.client.HTTPException, zipfile.BadZipFile, KeyError) as error:
        raise DataError(f"{GROUPLENS_URL}: {_reason(error)}") from None
    return data, "u.data", f"{GROUPLENS_URL}!{_GROUPLENS_MEMBER}"


def _download_recbole_wheel(progress: bool) -> tuple[bytes, str, str]:
    """``ml-100k.inter`` out of RecBole's wheel, which pip downloads but does not install."""
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
        "--disable-pip-version-check", "--timeout", str(_HTTP_TIMEOUT_S), "--retries", "1",
        f"recbole=={RECBOLE_VERSION}", "-d",
    ]  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="mtlstudy-recbole-") as folder:
        _say(progress, f"running {' '.join(command[2:])} {folder}")
        try:
            subprocess.run(
                [*command, folder], capture_output=True, text=True, check=True, timeout=_PIP_TIMEOUT_S
            )
        except subprocess.CalledProcessError as error:
            lines = [line for line in (error.stderr or error.stdout or "").splitlines() if line.strip()]
            reason = lines[-1] if lines else f"exit code {error.returncode}"
            raise DataError(f"pip download failed: {reason}") from None
        except subprocess.TimeoutExpired:
            raise DataError(f"pip download took over {_PIP_TIMEOUT_S} s") from None
        wheels = sorted(Path(folder).glob("recbole-*.whl"))
        if not wheels:
            raise DataError(f"pip download left no recbole wheel in {folder}")
        try:
            with zipfile.ZipFile(wheels[0]) as archive:
                data = archive.read(_RECBOLE_MEMBER)
        except (OSError, zipfile.BadZipFile, KeyError) as error:
            raise DataError(f"{wheels[0].name}: {_reason(error)}") from None
        return data, "inter", f"{wheels[0].name}!{_RECBOLE_MEMBER}"


def _evaluation_bytes(num_users: int, num_items: int, most_ratings: int) -> int:
    """About the memory one evaluation holds for tables of ``num_users`` x ``num_items`` (as
    ``RankingEvaluator`` does): the float32 scores of every user for every item and their masked
    copy, and the comparisons of one user's test items with every item, all at once."""
    return 8 * num_users * num_items + 4 * num_items * math.ceil(_TEST_SHARE * most_ratings)


# MovieLens-100K's: tables of 944 x 1683 (ids from 1), and 737 ratings of its busiest user.
_ML100K_EVALUATION_BYTES = _evaluation_bytes(944, 1683, 737)
#: How many times MovieLens-100K's evaluation memory a data set may need before it gets a DataSizeWarning.
LARGE_EVALUATION = 20


def _warn_if_large(num_users: int, num_items: int, most_ratings: int, described: str) -> None:
    """Warn (DataSizeWarning) if evaluating tables of ``num_users`` x ``num_items``, whose busiest
    user holds ``most_ratings`` ratings, needs over :data:`LARGE_EVALUATION` times MovieLens-100K's memory."""
    needed = _evaluation_bytes(num_users, num_items, most_ratings)
    if needed > LARGE_EVALUATION * _ML100K_EVALUATION_BYTES:
        warnings.warn(
            f"{described}: every evaluation of a model holds about {needed / 2**30:,.1f} GiB "
            f"({num_users - 1} users x {num_items - 1} items, and {most_ratings} ratings of one user), "
            f"{needed / _ML100K_EVALUATION_BYTES:,.0f}x MovieLens-100K's: expect epochs far slower than "
            "README's, or to run out of memory",
            DataSizeWarning,
            stacklevel=2,  # the line in this module: once per run, however many times the data is checked
        )


def _verify(frame: pd.DataFrame, label: str, hint: str) -> None:
    """Raise :class:`DataError` unless the ratings hash to :data:`ML100K_SHA256`."""
    actual = ratings_sha256(frame)
    if actual != ML100K_SHA256:
        raise DataError(
            f"{label}: ratings sha256 {actual[:12]}... is not MovieLens-100K's "
            f"{ML100K_SHA256[:12]}...; {hint}"
        )


def _write_atomically(path: Path, data: bytes) -> None:
    """Write via a temporary file in the same folder and a rename: never a partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as temporary, open(temporary, "xb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _reason(error: BaseException) -> str:
    """One line for why a download failed."""
    reason = getattr(error, "reason", None) or error
    return " ".join(str(reason).split()) or type(error).__name__


def _say(progress: bool, message: str) -> None:
    if progress:
        tqdm.write(message, file=sys.stderr)
