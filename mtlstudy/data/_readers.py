"""Parse and validate rating files: MovieLens ``u.data``, CSV and RecBole ``.inter``.

Every file is split by pandas' C parser and checked with vectorised numpy operations;
only on failure is the first offending line searched for. A valid 100k-row file thus
loads in a few hundredths of a second, while every failure is one :class:`DataError`
line of the form ``<file>:<line>: <rule broken> (got <value>)``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from mtlstudy._checks import short_repr
from mtlstudy._errors import DataError
from mtlstudy.data._interactions import Interactions

__all__ = [
    "FORMATS",
    "detect_format",
    "parse_ratings",
    "read_ratings",
    "canonical_bytes",
    "ratings_sha256",
    "to_interactions",
]

#: Formats :func:`parse_ratings` understands.
FORMATS: tuple[str, ...] = ("u.data", "csv", "inter")

_COLUMNS = ("user", "item", "rating", "timestamp")
_REQUIRED = ("user", "item", "rating")
# Header name -> column, per format; a RecBole header carries a ":type" suffix
# that is dropped before the lookup.
_HEADER_NAMES = {
    "csv": {name: name for name in _COLUMNS},
    "inter": {"user_id": "user", "item_id": "item", "rating": "rating", "timestamp": "timestamp"},
}
_FIELD_COUNT_ERROR = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")
# Ids index embedding tables of ``max id + 1`` rows (SPEC.md, Data), so an id is bounded by what
# the file's rows can need: n rows hold at most n distinct ids, plus slack for sparse numbering.
_ID_SLACK_PER_ROW, _ID_SLACK = 10, 10_000


def detect_format(name: str, data: bytes) -> str:
    """Tell a file's format from its extension, else from its first line.

    Parameters
    ----------
    name : str
        The file name (only its extension is used).
    data : bytes
        The file's content.

    Returns
    -------
    str
        One of :data:`FORMATS`.
    """
    suffix = Path(name).suffix.lower()
    if suffix == ".inter":
        return "inter"
    if suffix == ".csv":
        return "csv"
    first_line = data.split(b"\n", 1)[0]
    if first_line.lstrip(b"\xef\xbb\xbf").startswith(b"user_id") or b":token" in first_line:
        return "inter"
    if b"," in first_line:
        return "csv"
    return "u.data"


def read_ratings(path: str | os.PathLike) -> pd.DataFrame:
    """Read and validate a rating file, detecting its format (see :func:`detect_format`).

    Parameters
    ----------
    path : str or os.PathLike
        A MovieLens ``u.data``, a ``user,item,rating[,timestamp]`` CSV or a RecBole
        ``.inter`` file.

    Returns
    -------
    pandas.DataFrame
        See :func:`parse_ratings`.

    Raises
    ------
    DataError
        If the file cannot be read or breaks a rule of :func:`parse_ratings`.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise DataError(f"{path}: cannot read the file ({error.strerror or error})") from None
    return parse_ratings(data, detect_format(path.name, data), str(path))


def parse_ratings(data: bytes, fmt: str, label: str) -> pd.DataFrame:
    """Parse and validate the content of a rating file.

    Parameters
    ----------
    data : bytes
        The file's content.
    fmt : str
        One of :data:`FORMATS`: ``"u.data"`` (tab separated ``user item rating
        timestamp``, no header), ``"csv"`` (comma separated, header naming ``user``,
        ``item``, ``rating`` and optionally ``timestamp``) or ``"inter"`` (RecBole, tab
        separated, header ``user_id:token item_id:token rating:float timestamp:float``).
    label : str
        How error messages name the file.

    Returns
    -------
    pandas.DataFrame
        Columns ``user``, ``item`` (int64, >= 1), ``rating`` (float64, in [1, 5]) and
        ``timestamp`` (int64, 0 where the file has none), in file order, one row per
        unique (user, item) pair.

    Raises
    ------
    DataError
        On the first broken rule: unreadable header, wrong field count, missing column,
        empty field, non-positive or non-integer id, an id above ten per row plus 10,000
        (ids size the embedding tables), rating outside 1-5, non-integer timestamp,
        duplicate (user, item) pair, or no rows at all.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown rating file format {fmt!r}; expected one of {FORMATS}")
    if fmt == "u.data":
        columns, first_line = list(_COLUMNS), 1
        shape_rule, no_rows = "user, item, rating, timestamp", "an empty file"
    else:
        header_line = data.split(b"\n", 1)[0].decode("utf-8-sig", errors="replace").rstrip("\r")
        if not header_line.strip():
            raise DataError(f"{label}:1: missing header row (got {'a blank line' if data else 'an empty file'})")
        try:
            header = next(csv.reader([header_line])) if fmt == "csv" else header_line.split("\t")
        except csv.Error:  # the csv module refuses a bare carriage return inside a line
            raise DataError(
                f"{label}:1: the header row holds a carriage return or binary data (got {short_repr(header_line)})"
            ) from None
        columns, first_line = _header_columns(header, fmt, label), 2
        shape_rule, no_rows = "like the header", "only a header"
    table = _read_table(data, fmt, skip=first_line - 1, label=label)
    if table.empty:
        raise DataError(f"{label}:{first_line}: no rating rows (got {no_rows})")
    if table.shape[1] != len(columns):
        raise DataError(f"{label}:{first_line}: expected {len(columns)} fields {shape_rule} (got {table.shape[1]})")
    table = table.set_axis(columns, axis=1)
    # Line numbers are kept by row so that dropping blank lines does not shift them.
    lines = np.arange(first_line, first_line + len(table))
    blank = (table == "").all(axis=1).to_numpy()
    if blank.any():
        table, lines = table[~blank], lines[~blank]
        if table.empty:
            raise DataError(f"{label}:{first_line}: no rating rows (got only blank lines)")
    return _validate(table, lines, label)


def _read_table(data: bytes, fmt: str, skip: int, label: str) -> pd.DataFrame:
    """Split ``data`` into fields, blank lines kept as empty rows.

    Clean columns come back numeric straight from the C parser (the fast path);
    a column holding anything else stays text for :func:`_validate` to locate.
    """
    try:
        return pd.read_csv(
            io.BytesIO(data),
            sep="," if fmt == "csv" else "\t",
            header=None,
            skiprows=skip,
            na_filter=False,
            skip_blank_lines=False,
            # Tab-separated formats never quote; a stray quote there is data, not syntax.
            quoting=csv.QUOTE_MINIMAL if fmt == "csv" else csv.QUOTE_NONE,
            index_col=False,
            low_memory=False,
            encoding="utf-8-sig",
            encoding_errors="replace",
        )
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    except pd.errors.ParserError as error:
        found = _FIELD_COUNT_ERROR.search(str(error))
        if found is None:
            raise DataError(f"{label}: cannot split the file into fields ({error})") from None
        expected, line, saw = found.groups()
        message = f"{label}:{line}: expected {expected} fields like line {skip + 1} (got {saw})"
        raise DataError(message) from None


def _header_columns(header: list[str], fmt: str, label: str) -> list[str]:
    """Map a header row to our column names; columns we do not know are ignored."""
    names = _HEADER_NAMES[fmt]
    keys = [cell.strip().split(":", 1)[0].lower() for cell in header]
    columns = [names.get(key, f"_ignored{i}") for i, key in enumerate(keys)]
    shown = ("," if fmt == "csv" else "\t").join(header)
    missing = [key for key, column in names.items() if column in _REQUIRED and column not in columns]
    if missing:
        raise DataError(f"{label}:1: missing column(s) {', '.join(missing)} (got header {short_repr(shown)})")
    twice = sorted({key for key in keys if key in names and keys.count(key) > 1})
    if twice:
        raise DataError(f"{label}:1: column(s) named twice: {', '.join(twice)} (got header {short_repr(shown)})")
    return columns


def _validate(table: pd.DataFrame, lines: np.ndarray, label: str) -> pd.DataFrame:
    """Convert the fields to numbers, raising on the earliest line that breaks a rule."""
    values: dict[str, np.ndarray] = {}
    problems: list[tuple[int, int, str]] = []  # (row, column order, message) per column
    largest_id = _ID_SLACK_PER_ROW * len(table) + _ID_SLACK
    for order, column in enumerate(_COLUMNS):
        if column not in table:
            values[column] = np.zeros(len(table), dtype=np.float64)
            continue
        field = table[column]
        number = pd.to_numeric(field, errors="coerce").to_numpy(dtype=np.float64)
        if column == "rating":
            valid, rule = (number >= 1.0) & (number <= 5.0), "rating must be a number from 1 to 5"
        else:
            integral = np.isfinite(number) & (number == np.floor(number))
            if column == "timestamp":
                valid, rule = integral & (number >= 0), "timestamp must be a non-negative integer"
            else:
                valid, rule = integral & (number >= 1), f"{column} id must be a positive integer"
                if valid.all():
                    valid = number <= largest_id
                    rule = f"{column} id must be at most {largest_id:,} in a file of {len(table):,} ratings"
        if not valid.all():
            row = int(np.argmax(~valid))
            raw = str(field.iloc[row])
            if raw.strip() == "":
                message = f"missing {column} value (got an empty field)"
            else:
                message = f"{rule} (got {short_repr(raw)})"
            problems.append((row, order, message))
        values[column] = number
    if problems:
        row, _, message = min(problems)
        raise DataError(f"{label}:{lines[row]}: {message}")

    frame = pd.DataFrame(
        {
            "user": values["user"].astype(np.int64),
            "item": values["item"].astype(np.int64),
            "rating": values["rating"],
            "timestamp": values["timestamp"].astype(np.int64),
        }
    )
    repeated = frame.duplicated(["user", "item"]).to_numpy()
    if repeated.any():
        row = int(np.argmax(repeated))
        user, item = int(frame["user"].iat[row]), int(frame["item"].iat[row])
        first = int(np.argmax((frame["user"].to_numpy() == user) & (frame["item"].to_numpy() == item)))
        raise DataError(
            f"{label}:{lines[row]}: duplicate (user, item) pair, first on line {lines[first]} "
            f"(got user {user}, item {item})"
        )
    return frame


def canonical_bytes(frame: pd.DataFrame) -> bytes:
    """Render ratings as ``f"{user}\\t{item}\\t{rating}\\t{timestamp}\\n"`` lines, in order.

    Ratings print as integers when integral (``3``, not ``3.0``), so for MovieLens-100K
    this is byte for byte the original ``u.data`` and the body of RecBole's ``.inter``,
    whichever format the rows were read from.
    """
    ratings = frame["rating"].to_numpy()
    integral = ratings == np.floor(ratings)
    if integral.all():
        rendered = ratings.astype(np.int64)
    else:
        rendered = np.where(integral, ratings.astype(np.int64).astype(str), ratings.astype(str))
    lines = pd.DataFrame(
        {"user": frame["user"], "item": frame["item"], "rating": rendered, "timestamp": frame["timestamp"]}
    ).to_csv(sep="\t", header=False, index=False, lineterminator="\n")
    return lines.encode("utf-8")


def ratings_sha256(frame: pd.DataFrame) -> str:
    """The sha256 hex digest of :func:`canonical_bytes`."""
    return hashlib.sha256(canonical_bytes(frame)).hexdigest()


def to_interactions(frame: pd.DataFrame) -> Interactions:
    """Interactions of validated ratings; table sizes are ``max id + 1`` (SPEC.md, Data)."""
    return Interactions.from_arrays(
        frame["user"].to_numpy(),
        frame["item"].to_numpy(),
        frame["rating"].to_numpy(),
        frame["timestamp"].to_numpy(),
    )
