"""Storage URLs without their passwords: the URL a study saves and prints, and the one it connects with.

A password in a storage URL (``postgresql://alice:secret@db/mtlstudy``) enters a study through
:func:`check_storage`, the spec's check of its ``storage``. It stays in this process's memory,
and the spec holds the URL as SQLAlchemy shows it, ``postgresql://alice:***@db/mtlstudy``. So
``study.yaml``, the copy of the spec in the database, the report, Ray's saved experiment and
every message hold the masked URL, and nothing else needs to remember to mask it.

:func:`connect_url` gives a masked URL its password back in the process that was given it. In
any other process (a later command, a Ray worker) the mask is left out, never sent as a
password, and the database driver finds the password itself: libpq, under PostgreSQL's
drivers, reads ``PGPASSWORD`` and ``~/.pgpass``.
"""

from __future__ import annotations

import re

import sqlalchemy

from mtlstudy._errors import ConfigError

__all__ = ["MASK", "hide_password", "check_storage", "split_password", "connect_url"]

#: How a hidden password is shown: SQLAlchemy's ``render_as_string(hide_password=True)``.
MASK = "***"

#: Masked URL -> the URL as given, for this process only: never written, pickled or sent.
_GIVEN: dict[str, str] = {}

#: ``scheme://user:`` and everything up to the last ``@``: the password of a URL SQLAlchemy cannot parse.
_USERINFO = re.compile(r"^([^:/?#]+://[^:@/?#]*:).*@", re.DOTALL)

#: The query key that database drivers (libpq's, for one) also take a password from.
_PASSWORD_KEY = "password"
#: A password in a URL's query, in a URL SQLAlchemy cannot parse.
_QUERY_PASSWORD = re.compile(rf"([?&]{_PASSWORD_KEY}=)[^&#]*")


def _parsed(url: str) -> sqlalchemy.engine.URL | None:
    try:
        return sqlalchemy.engine.make_url(url)
    except (sqlalchemy.exc.ArgumentError, ValueError):
        return None


def _password(parsed: sqlalchemy.engine.URL) -> str | None:
    """The password in a parsed URL: after the user, or in the query (``?password=...``)."""
    if parsed.password is not None:
        return str(parsed.password)
    value = parsed.query.get(_PASSWORD_KEY)
    return value[-1] if isinstance(value, tuple) else value


def _without_password(parsed: sqlalchemy.engine.URL) -> sqlalchemy.engine.URL:
    return parsed._replace(password=None).difference_update_query([_PASSWORD_KEY])


def hide_password(url: str) -> str:
    """``url`` with its password shown as :data:`MASK`, as SQLAlchemy renders it; a URL without one as it is.

    A password in the query (``?password=...``, which drivers such as libpq also read) is
    masked too. A URL that SQLAlchemy cannot parse, or that it parses with an ``@`` in the
    host (a password with an unescaped ``@``), has everything between ``scheme://user:`` and
    its last ``@`` masked instead, and any ``password=`` in its query.

    Examples
    --------
    >>> hide_password("postgresql://alice@db/mtl?password=S3cret&sslmode=require")
    'postgresql://alice@db/mtl?password=***&sslmode=require'
    """
    parsed = _parsed(url)
    if parsed is None or "@" in (parsed.host or ""):
        return _QUERY_PASSWORD.sub(rf"\g<1>{MASK}", _USERINFO.sub(rf"\g<1>{MASK}@", url))
    if _PASSWORD_KEY in parsed.query:
        parsed = parsed.update_query_dict({_PASSWORD_KEY: MASK})
    elif parsed.password is None:
        return url
    return parsed.render_as_string(hide_password=True).replace(f"{_PASSWORD_KEY}=%2A%2A%2A", f"{_PASSWORD_KEY}={MASK}")


def check_storage(value: str, key: str = "storage") -> str:
    """The storage URL ``value`` as the study keeps it, its password masked and remembered for this process.

    A password that is the mask itself is a URL saved by a study, not a password: it is not
    remembered, so connecting leaves it out (see :func:`connect_url`).

    Raises
    ------
    ConfigError
        If its password holds an ``@`` that is not written ``%40``.
    """
    parsed = _parsed(value)
    if parsed is None:  # malformed: opening the storage says so, naming the masked URL
        return hide_password(value)
    if "@" in (parsed.host or ""):
        raise ConfigError(f"{key} must write an '@' in its password as %40, got {hide_password(value)!r}")
    masked = hide_password(value)
    if _password(parsed) not in (None, MASK):
        _GIVEN[masked] = value
    return masked


def split_password(url: str) -> tuple[str, str | None]:
    """``url`` without a password, and the password to connect with: the one this process was given
    for it (see :func:`check_storage`), or one written in ``url``; None for a masked or absent one."""
    given = _GIVEN.get(url)
    parsed = _parsed(given or url)
    if parsed is None or _password(parsed) is None:
        return url, None
    password = _password(parsed)
    password = None if given is None and password == MASK else password
    return _without_password(parsed).render_as_string(hide_password=False), password


def connect_url(url: str) -> str:
    """The URL to connect to ``url``'s database with: its password as :func:`split_password` finds it."""
    bare, password = split_password(url)
    if password is None:
        return bare
    return sqlalchemy.engine.make_url(bare).set(password=password).render_as_string(hide_password=False)
