"""Helpers for the tests of studies in S3, against the local S3 server of ``conftest.py``.

The fixtures themselves (``s3_endpoint``, ``s3_server``) live in ``conftest.py``, so a test
module asks for them by name; this module holds the plain values and functions they share.
"""

from __future__ import annotations

#: The bucket the ``s3_server`` fixture creates.
BUCKET = "mtlstudy-test"


def s3_environment(endpoint: str) -> dict[str, str]:
    """The AWS environment variables that point clients at ``endpoint``."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def s3_keys(prefix: str = "") -> list[str]:
    """Every object key in :data:`BUCKET` under ``prefix``."""
    import boto3

    pages = boto3.client("s3").get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return sorted(item["Key"] for page in pages for item in page.get("Contents", []))
