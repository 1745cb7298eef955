"""One process per cell: a claim file lets several `ablate` processes share one --out.

Running the same command twice (e.g. one process per CPU core) splits the cells between them:
each process claims a cell before training it (an exclusive create of `<cell>/seed<k>/.running`)
and skips cells another live process holds. A claim left by a killed process (its pid gone, or
reused by a process that started later) is stale and taken over, so kill-and-resume still works.
"""
from __future__ import annotations

import json
import os
import socket
from contextlib import contextmanager
from pathlib import Path

CLAIM_NAME = ".running"


def _start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (Linux /proc), None where unreadable."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # field 22; the command name (field 2) may hold spaces, so split after its closing parenthesis
    return int(stat.rsplit(")", 1)[1].split()[19])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def holder(cell_dir: Path) -> dict | None:
    """The live process holding `cell_dir` ({pid, host, start}), or None when free or stale."""
    path = Path(cell_dir) / CLAIM_NAME
    try:
        rec = json.loads(path.read_text())
        pid = int(rec["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if rec.get("host") != socket.gethostname() or not _alive(pid):
        # another machine's claim cannot be checked; a copied folder must not block this one
        return None
    if rec.get("start") is not None and _start_ticks(pid) not in (None, rec["start"]):
        return None  # the pid now belongs to a different process
    return rec


def _try_create(path: Path, rec: dict) -> bool:
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(rec))
    return True


@contextmanager
def claim(cell_dir: Path):
    """Yield True while this process holds `cell_dir`, False when another live process does."""
    cell_dir = Path(cell_dir)
    cell_dir.mkdir(parents=True, exist_ok=True)
    path = cell_dir / CLAIM_NAME
    me = os.getpid()
    rec = {"pid": me, "host": socket.gethostname(), "start": _start_ticks(me)}
    got = _try_create(path, rec)
    if not got and holder(cell_dir) is None:
        path.unlink(missing_ok=True)  # stale: its process is gone
        got = _try_create(path, rec)
    try:
        yield got
    finally:
        if got:
            path.unlink(missing_ok=True)
