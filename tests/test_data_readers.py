"""Rating file parsing and validation: formats, the canonical checksum, every rule."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from mtlstudy import DataError
from mtlstudy.data import make_synthetic
from mtlstudy.data._readers import (
    canonical_bytes,
    detect_format,
    parse_ratings,
    ratings_sha256,
    read_ratings,
    to_interactions,
)

FIXTURE = Path(__file__).parent / "fixtures" / "ratings_50.data"
INTER_HEADER = "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"


def _rows() -> list[list[str]]:
    return [line.split("\t") for line in FIXTURE.read_text().splitlines()]


def _write_all_formats(folder: Path) -> dict[str, Path]:
    rows = _rows()
    paths = {"u.data": folder / "u.data", "csv": folder / "ratings.csv", "inter": folder / "ml.inter"}
    paths["u.data"].write_bytes(FIXTURE.read_bytes())
    paths["csv"].write_text("user,item,rating,timestamp\n" + "".join(",".join(row) + "\n" for row in rows))
    paths["inter"].write_text(INTER_HEADER + FIXTURE.read_text())
    return paths


def test_every_format_parses_to_the_same_interactions(tmp_path):
    loaded = {fmt: to_interactions(read_ratings(path)) for fmt, path in _write_all_formats(tmp_path).items()}
    reference = loaded["u.data"]
    assert len(reference) == 50
    assert reference.user_ids.dtype == np.int64 and reference.ratings.dtype == np.float32
    assert reference.num_users == reference.user_ids.max() + 1
    assert reference.num_items == reference.item_ids.max() + 1
    for interactions in loaded.values():
        for field in ("user_ids", "item_ids", "ratings", "timestamps"):
            np.testing.assert_array_equal(getattr(interactions, field), getattr(reference, field))
        assert (interactions.num_users, interactions.num_items) == (reference.num_users, reference.num_items)


def test_canonical_bytes_reproduce_u_data_from_every_format(tmp_path):
    expected = hashlib.sha256(FIXTURE.read_bytes()).hexdigest()
    for path in _write_all_formats(tmp_path).values():
        frame = read_ratings(path)
        assert canonical_bytes(frame) == FIXTURE.read_bytes()
        assert ratings_sha256(frame) == expected


def test_canonical_bytes_render_fractional_ratings_as_floats():
    frame = parse_ratings(b"user,item,rating\n1,2,3.5\n1,3,4.0\n", "csv", "x.csv")
    assert canonical_bytes(frame) == b"1\t2\t3.5\t0\n1\t3\t4\t0\n"


def test_csv_without_timestamp_quoted_fields_crlf_bom_and_extra_columns():
    data = b'\xef\xbb\xbfRating,user,item,title\r\n"4",1,2,"A, B"\r\n5,2,2,C\r\n'
    frame = parse_ratings(data, "csv", "x.csv")
    assert frame["user"].tolist() == [1, 2]
    assert frame["rating"].tolist() == [4.0, 5.0]
    assert frame["timestamp"].tolist() == [0, 0]


@pytest.mark.parametrize(
    ("name", "first_line", "expected"),
    [
        ("ratings.csv", "user\titem", "csv"),
        ("ml-100k.inter", "1\t2\t3\t4", "inter"),
        ("u.data", "1\t2\t3\t4", "u.data"),
        ("ratings.txt", "user_id:token\titem_id:token", "inter"),
        ("ratings.txt", "user,item,rating", "csv"),
        ("ratings", "196\t242\t3\t881250949", "u.data"),
    ],
)
def test_detect_format(name, first_line, expected):
    assert detect_format(name, first_line.encode() + b"\n1\t2\t3\t4\n") == expected


def test_blank_lines_are_skipped_without_shifting_line_numbers():
    frame = parse_ratings(b"1\t1\t3\t10\n\n1\t2\t4\t11\n\n", "u.data", "f")
    assert len(frame) == 2
    with pytest.raises(DataError, match=r"^f:4: rating must be a number from 1 to 5 \(got '0'\)$"):
        parse_ratings(b"1\t1\t3\t10\n\n1\t2\t4\t11\n1\t3\t0\t12\n", "u.data", "f")


GOOD = "1\t1\t3\t100\n2\t1\t4\t101\n"


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ("x\t1\t3\t102", r"f:3: user id must be a positive integer \(got 'x'\)"),
        ("1.5\t1\t3\t102", r"f:3: user id must be a positive integer \(got '1.5'\)"),
        ("0\t1\t3\t102", r"f:3: user id must be a positive integer \(got '0'\)"),
        ("3\t-2\t3\t102", r"f:3: item id must be a positive integer \(got '-2'\)"),
        ("3\t1\t6\t102", r"f:3: rating must be a number from 1 to 5 \(got '6'\)"),
        ("3\t1\t0.5\t102", r"f:3: rating must be a number from 1 to 5 \(got '0.5'\)"),
        ("3\t1\tNaN\t102", r"f:3: rating must be a number from 1 to 5 \(got 'NaN'\)"),
        ("3\t1\t\t102", r"f:3: missing rating value \(got an empty field\)"),
        ("3\t\t4\t102", r"f:3: missing item value \(got an empty field\)"),
        ("3\t1\t4", r"f:3: missing timestamp value \(got an empty field\)"),
        ("3\t1\t4\tyesterday", r"f:3: timestamp must be a non-negative integer \(got 'yesterday'\)"),
        ("3\t1\t4\t102\t7", r"f:3: expected 4 fields like line 1 \(got 5\)"),
        ("2\t1\t5\t102", r"f:3: duplicate \(user, item\) pair, first on line 2 \(got user 2, item 1\)"),
    ],
)
def test_each_rule_names_file_line_and_value(bad_line, message):
    with pytest.raises(DataError, match=f"^{message}$"):
        parse_ratings((GOOD + bad_line + "\n4\t4\t4\t103\n").encode(), "u.data", "f")


def test_the_earliest_offending_line_is_reported():
    data = b"1\t1\t3\t1\n1\t2\t9\t2\nx\t3\t3\t3\n"
    with pytest.raises(DataError, match=r"^f:2: rating"):
        parse_ratings(data, "u.data", "f")


def test_line_numbers_count_the_header():
    data = (INTER_HEADER + GOOD + "3\t1\t7\t102\n").encode()
    with pytest.raises(DataError, match=r"^f.inter:4: rating must be a number from 1 to 5 \(got '7'\)$"):
        parse_ratings(data, "inter", "f.inter")


@pytest.mark.parametrize(
    ("data", "fmt", "message"),
    [
        (b"", "u.data", r"f:1: no rating rows \(got an empty file\)"),
        (b"\n\n", "u.data", r"f:1: no rating rows \(got an empty file\)"),
        (b"\t\t\t\n\n", "u.data", r"f:1: no rating rows \(got only blank lines\)"),
        (b"", "csv", r"f:1: missing header row \(got an empty file\)"),
        (b"user,item,rating\n", "csv", r"f:2: no rating rows \(got only a header\)"),
        (b"user,item\n1,2\n", "csv", r"f:1: missing column\(s\) rating \(got header 'user,item'\)"),
        (b"user_id:token\tscore:float\n1\t2\n", "inter", r"f:1: missing column\(s\) item_id, rating .*"),
        (b"user,item,rating,user\n1,2,3,4\n", "csv", r"f:1: column\(s\) named twice: user .*"),
        (b"user,item,rating\n1,2,3,4\n", "csv", r"f:2: expected 3 fields like the header \(got 4\)"),
        (b"1\t2\t3\n", "u.data", r"f:1: expected 4 fields user, item, rating, timestamp \(got 3\)"),
    ],
)
def test_structural_errors(data, fmt, message):
    with pytest.raises(DataError, match=f"^{message}$"):
        parse_ratings(data, fmt, "f")


def test_errors_are_one_line_and_a_value_error(tmp_path):
    path = tmp_path / "u.data"
    path.write_text("1\t2\t3\t4\n1\t2\t" + "9" * 200 + "\t5\n")
    with pytest.raises(ValueError) as caught:
        read_ratings(path)
    message = str(caught.value)
    assert isinstance(caught.value, DataError)
    assert "\n" not in message and message.startswith(f"{path}:2: ") and len(message) < 200


def test_missing_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="cannot read the file"):
        read_ratings(tmp_path / "nope.data")


def test_100k_rows_load_hash_and_convert_back_to_the_same_interactions(tmp_path):
    interactions = make_synthetic(num_users=1000, num_items=2000, density=0.05, seed=3)
    assert len(interactions) > 90_000
    lines = (
        f"{u}\t{i}\t{int(r)}\t{t}\n"
        for u, i, r, t in zip(interactions.user_ids, interactions.item_ids, interactions.ratings, interactions.timestamps)
    )
    path = tmp_path / "u.data"
    path.write_text("".join(lines))
    frame = read_ratings(path)
    assert len(frame) == len(interactions)
    assert ratings_sha256(frame) == ratings_sha256(read_ratings(path))
    back = to_interactions(frame)
    for field in ("user_ids", "item_ids", "ratings", "timestamps"):
        np.testing.assert_array_equal(getattr(back, field), getattr(interactions, field))
