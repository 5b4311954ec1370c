"""A study's layout: the name of every file and folder in it, and where they live: a local
folder, or an object store (``--dir s3://bucket/prefix``).

A study's spec and Ray's trial folders (results, checkpoints, ``metrics.csv``,
TensorBoard events) are its shared files: Ray writes them to ``--dir`` itself,
through ``pyarrow.fs``, and :class:`StudyFiles` reads them back the same way, so
``status``, ``export``, ``report`` and ``resume`` need no shared file system.
S3 is configured the way AWS tools are: credentials, region and
``AWS_ENDPOINT_URL`` (for an S3-compatible server) from the standard environment
variables or ``~/.aws``.

The lock, Ray's driver log, the TensorBoard link view and the dashboard's log are
local: a remote study keeps them in a working folder on the driver's machine
(:func:`local_study_dir`).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import pyarrow.fs

from mtlstudy._errors import ConfigError, StudyError, UnsafePathError
from mtlstudy._files import atomic_path
from mtlstudy._schema import DEFAULT_DIR
from mtlstudy.data import cache_dir

__all__ = [
    "DEFAULT_DIR",
    "SPEC_FILE",
    "DATABASE_FILE",
    "RAY_DIR",
    "REPORT_DIR",
    "TENSORBOARD_DIR",
    "LOCK_FILE",
    "RAY_LOG_FILE",
    "DASHBOARD_LOG",
    "REMOTE_SCHEMES",
    "is_remote",
    "check_remote_dir",
    "local_study_dir",
    "study_names",
    "StudyFiles",
]

# Shared files, in ``<dir>/<name>`` wherever ``dir`` is.
#: The spec the study actually used.
SPEC_FILE = "study.yaml"
#: Ray Tune's experiment folder (one subfolder per Ray trial).
RAY_DIR = "ray"

# Local files, in the study's folder or, for a remote study, its working folder (see local_study_dir).
#: The Optuna database when the study has no ``storage``.
DATABASE_FILE = "optuna.db"
#: The default report folder.
REPORT_DIR = "report"
#: TensorBoard's view: one link per trial, named after the trial (see :mod:`mtlstudy.study._tensorboard`).
TENSORBOARD_DIR = "tensorboard"
#: The lock file of the process running the study (see :mod:`mtlstudy.study._lock`).
LOCK_FILE = ".lock"
#: Ray's driver log.
RAY_LOG_FILE = "ray-driver.log"
#: The log of the dashboard's servers.
DASHBOARD_LOG = "dashboard.log"

#: URI schemes a study's ``dir`` may have besides a local path (tested against S3).
REMOTE_SCHEMES: tuple[str, ...] = ("s3://",)

#: The object a writability check writes, and deletes, in the studies' folder (``dir``).
_PROBE = ".mtlstudy-write-check"


def is_remote(dir: str | os.PathLike) -> bool:
    """Whether ``dir`` is an object-store URI rather than a local path."""
    return str(dir).startswith(REMOTE_SCHEMES)


def check_remote_dir(dir: str) -> str:
    """``dir`` (``s3://bucket[/prefix]``) without a trailing slash, or ConfigError if it cannot name a folder.

    The endpoint comes from the environment (``AWS_ENDPOINT_URL``), not from the URI,
    so that a study's trial paths are the URI and a name below it.
    """
    bucket = dir.split("://", 1)[1].split("/", 1)[0]
    if not bucket or "?" in dir or "#" in dir:
        raise ConfigError(
            f"dir must be s3://bucket or s3://bucket/prefix (set the endpoint with AWS_ENDPOINT_URL), got {dir!r}"
        )
    return dir.rstrip("/")


def local_study_dir(dir: str | os.PathLike, name: str) -> Path:
    """The local folder of study ``name`` in ``dir``: the study's own folder, or for a remote
    ``dir`` a working folder in the cache (``<cache>/remote/<bucket>/<prefix>/<name>``)."""
    if not is_remote(dir):
        return Path(dir) / name
    return cache_dir() / "remote" / str(dir).split("://", 1)[1] / name


def study_names(dir: str | os.PathLike) -> list[str]:
    """The studies in ``dir``, local or remote: the names of its folders that hold a :data:`SPEC_FILE`, sorted."""
    studies = StudyFiles(dir, "")  # the folder of studies itself
    return [name for name in studies.folders() if studies.exists(name, SPEC_FILE)]


class StudyFiles:
    """The shared files of study ``name`` in ``dir``, on the file system ``dir`` names.

    Paths inside the study are given as parts (``files.uri("ray", trial_id)``).

    Attributes
    ----------
    dir : str
        Where the study's folder is: ``dir`` resolved to an absolute path, or its URI.
    remote : bool
        Whether ``dir`` is an object store.
    filesystem : pyarrow.fs.FileSystem
        The file system Ray writes the study's trials to.
    root : str
        The study's folder on ``filesystem``.
    """

    def __init__(self, dir: str | os.PathLike, name: str) -> None:
        self.remote = is_remote(dir)
        if self.remote:
            self.dir = check_remote_dir(str(dir))
            self.filesystem, parent = pyarrow.fs.FileSystem.from_uri(self.dir)
        else:
            self.dir = parent = str(Path(dir).resolve())
            self.filesystem = pyarrow.fs.LocalFileSystem()
        self.name = name
        self.root = str(PurePosixPath(parent, name))

    def path(self, *parts: str) -> str:
        """The file system path of ``parts`` (how Ray's checkpoints name theirs)."""
        return str(PurePosixPath(self.root, *parts))

    def uri(self, *parts: str) -> str:
        """The location of ``parts`` as Ray and people name it: a local path, or ``s3://...``."""
        return "/".join((self.dir, self.name, *parts))

    def exists(self, *parts: str) -> bool:
        """Whether ``parts`` (a file or folder; the study's folder when empty) exists."""
        return self._info(self.path(*parts)).type != pyarrow.fs.FileType.NotFound

    def read_bytes(self, *parts: str) -> bytes | None:
        """The content of file ``parts``, None if there is none."""
        try:
            with self.filesystem.open_input_stream(self.path(*parts)) as stream:
                return stream.read()
        except FileNotFoundError:
            return None
        except OSError as error:
            raise _error("read", self.uri(*parts), error) from None

    def write_bytes(self, data: bytes, *parts: str) -> None:
        """Write file ``parts`` whole (see :meth:`_whole`)."""
        try:
            with self._whole(self.path(*parts)) as path, self.filesystem.open_output_stream(path) as stream:
                stream.write(data)
        except OSError as error:
            raise _error("write", self.uri(*parts), error) from None

    def folders(self, *parts: str, prefix: str = "") -> list[str]:
        """Names of the folders in folder ``parts`` that start with ``prefix``, sorted (none if it is missing)."""
        selector = pyarrow.fs.FileSelector(self.path(*parts), allow_not_found=True)
        try:
            infos = self.filesystem.get_file_info(selector)
        except OSError as error:
            raise _error("list", self.uri(*parts), error) from None
        return sorted(
            info.base_name
            for info in infos
            if info.type == pyarrow.fs.FileType.Directory and info.base_name.startswith(prefix)
        )

    @contextlib.contextmanager
    def _whole(self, target: str) -> Iterator[str]:
        """The path to write file system path ``target`` through: ``target`` itself in an object store, which
        shows an object only once it is complete; locally a temporary file beside it, renamed into place."""
        if self.remote:
            yield target
            return
        self.filesystem.create_dir(str(PurePosixPath(target).parent))  # an object store has no folders to make
        with atomic_path(target) as temporary:
            yield str(temporary)

    @contextlib.contextmanager
    def local_file(self, path: str) -> Iterator[Path]:
        """File system path ``path`` as a local file for the block: itself, or a temporary download
        (a missing one stays missing)."""
        if not self.remote:
            yield Path(path)
            return
        with tempfile.TemporaryDirectory() as folder:
            local = Path(folder, PurePosixPath(path).name)
            try:
                with self.filesystem.open_input_stream(path) as stream:
                    local.write_bytes(stream.read())
            except FileNotFoundError:
                pass
            except OSError as error:
                raise _error("read", f"{self.filesystem.type_name}://{path}", error) from None
            yield local

    def check_writable(self) -> None:
        """StudyError unless the study can be written: for a remote one, the bucket exists and an
        object can be written (and deleted again) in ``dir``."""
        if not self.remote:
            return
        bucket = self.root.split("/", 1)[0]
        if self._info(bucket).type == pyarrow.fs.FileType.NotFound:
            raise StudyError(f"cannot use {self.dir!r}: bucket {bucket!r} does not exist")
        probe = str(PurePosixPath(self.root).parent / _PROBE)
        try:
            with self.filesystem.open_output_stream(probe) as stream:
                stream.write(b"")
            self.filesystem.delete_file(probe)
        except OSError as error:
            raise _error("write", self.dir, error) from None

    def refuse_links_out(self) -> None:
        """UnsafePathError if a symbolic link in the study's folder leads out of it.

        Ray writes into a trial's folder wherever it leads, so a link planted in place of a
        folder of a shared study would have a resumed study write elsewhere. The study's own
        links (its ``tensorboard`` names) lead into it. An object store has no links.
        """
        if self.remote:
            return
        root = Path(self.root).resolve()
        links = [Path(folder, name) for folder, folders, files in os.walk(root) for name in (*folders, *files)]
        out = [link for link in links if link.is_symlink() and not link.resolve().is_relative_to(root)]
        if out:
            # The link that itself points out, rather than one that leads to it.
            path = min(out, key=lambda link: Path(os.path.normpath(link.parent / os.readlink(link))).is_relative_to(root))
            raise UnsafePathError(
                f"refused study {self.name!r}: {str(path)!r} is a symbolic link to {str(path.resolve())!r}, "
                "outside the study's folder; remove it to go on"
            )

    def _info(self, path: str) -> pyarrow.fs.FileInfo:
        try:
            return self.filesystem.get_file_info(path)
        except OSError as error:
            raise _error("read", path, error) from None


def _error(action: str, where: str, error: OSError) -> StudyError:
    reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
    return StudyError(f"cannot {action} {where!r}: {reason}")
