"""load_dataset / fetch_movielens: source order, checksum, cache, atomic writes.

No test touches the network: the downloaders are replaced, or their urlopen/pip
calls are, and a 50-row fixture stands in for MovieLens-100K through a pinned-hash
override.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest

from mtlstudy import ConfigError, DataError
from mtlstudy.data import ML100K_SHA256, Dataset, cache_dir, check_dataset, fetch_movielens, load_dataset
from mtlstudy.data import _sources

FIXTURE = Path(__file__).parent / "fixtures" / "ratings_50.data"
FIXTURE_SHA256 = hashlib.sha256(FIXTURE.read_bytes()).hexdigest()
INTER = b"user_id:token\titem_id:token\trating:float\ttimestamp:float\n" + FIXTURE.read_bytes()


@pytest.fixture
def pinned(monkeypatch):
    """Make the 50-row fixture pass as MovieLens-100K."""
    monkeypatch.setattr(_sources, "ML100K_SHA256", FIXTURE_SHA256)


def _fail(reason):
    def download(progress):
        raise DataError(reason)

    return download


def _serve(data, fmt="u.data", label="fake"):
    calls = []

    def download(progress):
        calls.append(progress)
        return data, fmt, label

    download.calls = calls
    return download


def _zip(member: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(member, data)
    return buffer.getvalue()


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_pinned_checksum_is_the_ml100k_one():
    assert ML100K_SHA256 == "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490"


def test_cache_dir_honours_environment(monkeypatch, tmp_path):
    assert cache_dir() == tmp_path / "cache"
    monkeypatch.delenv("MTLSTUDY_DATA_DIR")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "mtlstudy"


def test_unknown_dataset_names_value_and_choices():
    with pytest.raises(ConfigError, match=r"unknown dataset 'ml-1m'; expected one of ml-100k, synthetic"):
        load_dataset("ml-1m")


def test_user_file_is_verified(pinned):
    dataset = load_dataset(path=FIXTURE)
    assert isinstance(dataset, Dataset)
    assert (dataset.name, dataset.source, len(dataset.interactions)) == ("ml-100k", str(FIXTURE), 50)


def test_user_file_checksum_mismatch_names_file_hashes_and_no_verify():
    with pytest.raises(DataError) as caught:
        load_dataset(path=FIXTURE)
    message = str(caught.value)
    assert message.startswith(f"{FIXTURE}: ratings sha256 {FIXTURE_SHA256[:12]}")
    assert ML100K_SHA256[:12] in message and "--no-verify" in message and "\n" not in message


def test_no_verify_loads_another_dataset_with_max_id_sizes():
    interactions = load_dataset(path=FIXTURE, verify=False).interactions
    assert interactions.num_users == interactions.user_ids.max() + 1
    assert interactions.num_items == interactions.item_ids.max() + 1


def test_invalid_user_file_fails_even_without_verify(tmp_path):
    path = tmp_path / "u.data"
    path.write_text("1\t2\t3\t4\n1\t2\t4\t5\n")
    with pytest.raises(DataError, match=r":2: duplicate \(user, item\) pair, first on line 1"):
        load_dataset(path=path, verify=False)


def test_cache_hit_reads_the_cache_and_downloads_nothing(pinned, data_dir, monkeypatch):
    (data_dir / "ml-100k").mkdir(parents=True)
    (data_dir / "ml-100k" / "u.data").write_bytes(FIXTURE.read_bytes())
    monkeypatch.setattr(_sources, "_download_grouplens", _fail("must not be called"))
    monkeypatch.setattr(_sources, "_download_recbole_wheel", _fail("must not be called"))
    dataset = load_dataset()
    assert dataset.source == f"cache {data_dir / 'ml-100k' / 'u.data'}"
    assert len(dataset.interactions) == 50


def test_corrupt_cache_is_reported_not_replaced(data_dir):
    path = data_dir / "ml-100k" / "u.data"
    path.parent.mkdir(parents=True)
    path.write_bytes(FIXTURE.read_bytes())
    with pytest.raises(DataError, match=rf"^{path}: ratings sha256 .*; delete {path} to fetch"):
        fetch_movielens(progress=False)
    assert path.read_bytes() == FIXTURE.read_bytes()


def test_grouplens_failure_falls_through_to_recbole_and_fills_cache(pinned, data_dir, monkeypatch):
    recbole = _serve(INTER, "inter")
    monkeypatch.setattr(_sources, "_download_grouplens", _fail("no network"))
    monkeypatch.setattr(_sources, "_download_recbole_wheel", recbole)
    dataset = load_dataset()
    assert dataset.source == "recbole 1.2.1 wheel"
    assert recbole.calls == [False]
    cached = data_dir / "ml-100k" / "u.data"
    assert cached.read_bytes() == FIXTURE.read_bytes()  # the header is gone: u.data format
    assert _leftovers(data_dir) == ["u.data"]
    # The second load is a cache hit.
    assert load_dataset().source == f"cache {cached}"
    np.testing.assert_array_equal(load_dataset().interactions.ratings, dataset.interactions.ratings)


def test_grouplens_comes_first(pinned, monkeypatch):
    monkeypatch.setattr(_sources, "_download_grouplens", _serve(FIXTURE.read_bytes()))
    monkeypatch.setattr(_sources, "_download_recbole_wheel", _fail("must not be called"))
    path, source = fetch_movielens(progress=False)
    assert source == "GroupLens download" and path.read_bytes() == FIXTURE.read_bytes()


def test_cache_file_gets_the_usual_permissions(pinned, monkeypatch):
    monkeypatch.setattr(_sources, "_download_grouplens", _serve(FIXTURE.read_bytes()))
    umask = os.umask(0o022)
    try:
        path, _ = fetch_movielens(progress=False)
    finally:
        os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o644


def test_a_download_failing_its_checksum_falls_through_and_is_not_cached(data_dir, monkeypatch, pinned):
    tampered = FIXTURE.read_bytes().replace(b"\t4\t", b"\t5\t", 1)
    monkeypatch.setattr(_sources, "_download_grouplens", _serve(tampered, label="zip!u.data"))
    monkeypatch.setattr(_sources, "_download_recbole_wheel", _serve(INTER, "inter"))
    path, source = fetch_movielens(progress=False)
    assert source == "recbole 1.2.1 wheel"
    assert path.read_bytes() == FIXTURE.read_bytes()


def test_every_source_failing_lists_each_reason_and_leaves_no_file(data_dir, monkeypatch, pinned):
    monkeypatch.setattr(_sources, "_download_grouplens", _fail("name resolution failed"))
    monkeypatch.setattr(_sources, "_download_recbole_wheel", _serve(b"1\t2\t3\t4\n1\t2\t3\t5\n", label="whl!inter"))
    with pytest.raises(DataError) as caught:
        load_dataset()
    message = str(caught.value)
    assert "GroupLens download: name resolution failed" in message
    assert "recbole 1.2.1 wheel: whl!inter:2: duplicate" in message
    assert "\n" not in message
    assert _leftovers(data_dir) == []


def test_interrupted_cache_write_leaves_no_partial_file(data_dir, monkeypatch, pinned):
    monkeypatch.setattr(_sources, "_download_grouplens", _serve(FIXTURE.read_bytes()))

    def interrupted(source, destination):
        raise KeyboardInterrupt

    monkeypatch.setattr(_sources.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fetch_movielens(progress=False)
    assert _leftovers(data_dir) == []


def test_progress_messages_go_to_stderr(pinned, monkeypatch, capsys):
    monkeypatch.setattr(_sources, "_download_grouplens", _fail("offline"))
    monkeypatch.setattr(_sources, "_download_recbole_wheel", _serve(INTER, "inter"))
    fetch_movielens(progress=True)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "trying the GroupLens download" in captured.err
    assert "GroupLens download failed: offline" in captured.err
    assert "verified sha256" in captured.err


def test_download_grouplens_reads_u_data_from_the_zip(monkeypatch):
    archive = _zip("ml-100k/u.data", FIXTURE.read_bytes())

    class Response(io.BytesIO):
        headers = {"Content-Length": str(len(archive))}

    seen = {}

    def urlopen(url, timeout):
        seen.update(url=url, timeout=timeout)
        return Response(archive)

    monkeypatch.setattr(_sources.urllib.request, "urlopen", urlopen)
    data, fmt, label = _sources._download_grouplens(progress=False)
    assert (data, fmt) == (FIXTURE.read_bytes(), "u.data")
    assert seen["url"] == "https://files.grouplens.org/datasets/movielens/ml-100k.zip"
    assert seen["timeout"] <= 10
    assert label.endswith("!ml-100k/u.data")


def test_download_grouplens_turns_network_errors_into_one_line(monkeypatch):
    def urlopen(url, timeout):
        raise _sources.urllib.error.URLError(OSError(-2, "Name or service not known"))

    monkeypatch.setattr(_sources.urllib.request, "urlopen", urlopen)
    with pytest.raises(DataError, match=r"^https://files\.grouplens\.org/\S+: \[Errno -2\] Name or service not known$"):
        _sources._download_grouplens(progress=False)


def test_download_recbole_wheel_runs_pip_and_reads_the_inter_file(monkeypatch):
    seen = {}

    def run(command, **options):
        seen["command"] = command
        folder = Path(command[command.index("-d") + 1])
        (folder / "recbole-1.2.1-py3-none-any.whl").write_bytes(
            _zip("recbole/dataset_example/ml-100k/ml-100k.inter", INTER)
        )
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(_sources.subprocess, "run", run)
    data, fmt, label = _sources._download_recbole_wheel(progress=False)
    assert (data, fmt) == (INTER, "inter")
    assert seen["command"][:5] == [_sources.sys.executable, "-m", "pip", "download", "--no-deps"]
    assert "recbole==1.2.1" in seen["command"] and "install" not in seen["command"]
    assert label == "recbole-1.2.1-py3-none-any.whl!recbole/dataset_example/ml-100k/ml-100k.inter"


def test_download_recbole_wheel_reports_pips_last_error_line(monkeypatch):
    def run(command, **options):
        raise subprocess.CalledProcessError(1, command, "", "Looking in indexes\nERROR: No matching distribution\n")

    monkeypatch.setattr(_sources.subprocess, "run", run)
    with pytest.raises(DataError, match=r"^pip download failed: ERROR: No matching distribution$"):
        _sources._download_recbole_wheel(progress=False)


def test_synthetic_passes_options_through():
    dataset = load_dataset("synthetic", seed=5, num_users=20, num_items=30)
    assert dataset.name == "synthetic"
    assert dataset.interactions.num_users == 21 and dataset.interactions.num_items == 31
    assert "seed=5" in dataset.source


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: load_dataset("synthetic", users=3), r"unknown synthetic option\(s\) \['users'\]; expected some of num_users"),
        (lambda: load_dataset("synthetic", num_users=0), r"num_users must be an integer >= 1, got 0"),
        (lambda: load_dataset("synthetic", path="u.data"), r"a data path applies to ml-100k only"),
        (lambda: load_dataset("ml-100k", seed=3), r"option\(s\) \['seed'\] apply to the synthetic dataset only"),
    ],
)
def test_option_errors(call, message):
    with pytest.raises(ConfigError, match=message):
        call()


@pytest.mark.parametrize(
    "name, path, options, message",
    [
        ("bogus", None, {}, "unknown dataset 'bogus'; expected one of ml-100k, synthetic"),
        ("synthetic", None, {"foo": 1}, "unknown synthetic option(s) ['foo']"),
        ("synthetic", None, {"density": 0}, "density must be a number in (0, 1], got 0"),
        ("synthetic", None, {"num_users": "many"}, "num_users must be an integer, got 'many'"),
        ("synthetic", None, 5, "dataset options must be a mapping of KEY: VALUE, got 5"),
        ("synthetic", "u.data", {}, "a data path applies to ml-100k only"),
        ("ml-100k", None, {"seed": 1}, "option(s) ['seed'] apply to the synthetic dataset only"),
    ],
)
def test_check_dataset_refuses_what_load_dataset_would_without_loading(name, path, options, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        check_dataset(name, path, options)
    if isinstance(options, dict):
        with pytest.raises(ConfigError, match=re.escape(message)):
            load_dataset(name, path, **options)


def test_check_dataset_accepts_valid_requests(tmp_path):
    check_dataset("synthetic", None, {"num_users": 10, "density": 0.5})
    (tmp_path / "u.data").write_text("1\t1\t3\t0\n")
    check_dataset("ml-100k", tmp_path / "u.data")
