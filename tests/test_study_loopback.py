"""A local study's Ray serves on the loopback only (read from /proc, Linux)."""

from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads sockets from Linux's /proc"),
]

BIN = os.path.dirname(sys.executable)


def _descendants(root: int) -> set[int]:
    """``root`` and every process below it."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = {root}, [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _listening(pids: set[int]) -> set[tuple[str, str, int]]:
    """(process name, address, port) of every TCP socket the processes ``pids`` listen on."""
    owners = {}
    for pid in pids:
        try:
            descriptors = list(Path(f"/proc/{pid}/fd").iterdir())
            name = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            continue
        for descriptor in descriptors:
            try:
                target = os.readlink(descriptor)
            except OSError:
                continue
            if target.startswith("socket:["):
                owners[target[8:-1]] = name
    found = set()
    for table, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] != "0A" or fields[9] not in owners:  # 0A: LISTEN
                continue
            address, port = fields[1].split(":")
            raw = bytes.fromhex(address)
            # /proc prints each 32-bit word in host (little-endian) order.
            raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            found.add((owners[fields[9]], socket.inet_ntop(family, raw), int(port, 16)))
    return found


def _loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return ip.is_loopback or (ip.version == 6 and ip.ipv4_mapped is not None and ip.ipv4_mapped.is_loopback)


def test_a_local_study_listens_on_the_loopback_only(tmp_path):
    command = [os.path.join(BIN, "mtlstudy"), "study", "run", "--name", "local", "--trials", "2", "--epochs", "2",
               "--dataset", "synthetic", "--dataset-option", "num_users=40", "--dataset-option", "num_items=50",
               "--dir", str(tmp_path)]
    env = {key: value for key, value in os.environ.items() if key not in ("RAY_ADDRESS", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER")}
    driver = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    seen: set[tuple[str, str, int]] = set()
    while driver.poll() is None:
        seen |= _listening(_descendants(driver.pid))
        time.sleep(0.3)
    output = driver.stdout.read()
    assert driver.returncode == 0, output
    names = {name for name, _, _ in seen}
    assert {"gcs_server", "raylet"} <= names, seen  # the listing saw Ray serving
    assert [entry for entry in seen if not _loopback(entry[1])] == []
