"""Shared fixtures: every test gets its own, empty data cache; trainer tests share a small split;
studies in S3 get a local S3 server, and studies in PostgreSQL a local PostgreSQL server.
"""

from __future__ import annotations

import logging
import urllib.request

import pytest

from _postgres import POSTGRES_PASSWORD, running_postgres
from _s3 import BUCKET, s3_environment
from mtlstudy.data import make_synthetic, random_train_test_split


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    """``$MTLSTUDY_DATA_DIR`` in the test's temporary directory: no test reads or fills the real cache."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("MTLSTUDY_DATA_DIR", str(folder))
    return folder


@pytest.fixture(scope="module")
def split():
    """A small synthetic train/test split (the trainer's and the packed trainer's tests)."""
    return random_train_test_split(make_synthetic(num_users=80, num_items=120, seed=3), 0.1, 123)


@pytest.fixture(scope="module")
def postgres_url():
    """The URL of a fresh PostgreSQL database for the module (skipped without PostgreSQL's server programs)."""
    yield from running_postgres()


@pytest.fixture(scope="module")
def postgres_password_url():
    """The URL, password included, of a fresh PostgreSQL database that TCP clients must log in to with
    :data:`POSTGRES_PASSWORD` (skipped without PostgreSQL's server programs)."""
    yield from running_postgres(POSTGRES_PASSWORD)


@pytest.fixture(scope="session")
def s3_endpoint():
    """The URL of a local S3 server (moto's server mode on 127.0.0.1, a free port) for the whole session."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_server(s3_endpoint, monkeypatch):
    """The session's S3 server, emptied, holding one empty ``_s3.BUCKET``.

    The standard AWS environment variables point at it, as a user points them at a real S3 or an
    S3-compatible store; a Ray started afterwards passes them on to its workers.
    """
    import boto3

    for key, value in s3_environment(s3_endpoint).items():
        monkeypatch.setenv(key, value)
    urllib.request.urlopen(urllib.request.Request(f"{s3_endpoint}/moto-api/reset", method="POST")).close()
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    return s3_endpoint
