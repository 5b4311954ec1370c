"""A local S3 server for tests: moto's server mode on 127.0.0.1, on a free port.

:func:`s3_server` points the standard AWS environment variables at it, as a user
points them at a real S3 or an S3-compatible store; a Ray started afterwards passes
them on to its workers.
"""

from __future__ import annotations

import logging
import urllib.request

import boto3
import pytest
from moto.server import ThreadedMotoServer

#: The bucket :func:`s3_server` creates.
BUCKET = "mtlstudy-test"


@pytest.fixture(scope="session")
def s3_endpoint():
    """The URL of an S3 server that runs for the whole test session."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def s3_environment(endpoint: str) -> dict[str, str]:
    """The AWS environment variables that point clients at ``endpoint``."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }


@pytest.fixture
def s3_server(s3_endpoint, monkeypatch):
    """The session's S3 server, emptied, holding one empty :data:`BUCKET`, with the environment pointing at it."""
    for key, value in s3_environment(s3_endpoint).items():
        monkeypatch.setenv(key, value)
    urllib.request.urlopen(urllib.request.Request(f"{s3_endpoint}/moto-api/reset", method="POST")).close()
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    return s3_endpoint


def s3_keys(prefix: str = "") -> list[str]:
    """Every object key in :data:`BUCKET` under ``prefix``."""
    pages = boto3.client("s3").get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return sorted(item["Key"] for page in pages for item in page.get("Contents", []))
