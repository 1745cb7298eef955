"""Checks on user-given paths, made before any work starts (L0).

Inputs must exist (and be files where a file is expected); outputs must be creatable or writable.
Every check raises one line that names the path and what was expected, and none of them leaves
anything behind: a folder that does not exist yet is probed through its nearest existing parent.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _a(what: str) -> str:
    return f"an {what}" if what[:1] in "aeiou" else f"a {what}"


def require_file(path: str | Path, what: str = "input file") -> Path:
    """`path` must be an existing regular file (not a folder)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such {what}")
    if path.is_dir():
        raise ValueError(f"{path}: is a folder; expected {_a(what)}")
    return path


def require_existing(path: str | Path, what: str = "input") -> Path:
    """`path` must exist (file or folder)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such {what}")
    return path


def _nearest_existing(path: Path) -> Path:
    p = path.absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _probe_writable(folder: Path) -> str | None:
    """None when a file can be created in `folder`, else the reason (the probe is removed at once)."""
    if not os.access(folder, os.W_OK | os.X_OK):
        return "permission denied"
    try:
        probe = tempfile.mkdtemp(prefix=".actionpose-write-probe-", dir=folder)
    except OSError as e:  # read-only file system, quota, a pseudo file system, ...
        return e.strerror or type(e).__name__
    os.rmdir(probe)
    return None


def require_writable_dir(path: str | Path, what: str = "output folder") -> Path:
    """`path` must be a writable folder, or creatable (every existing ancestor a writable folder).
    Nothing is created here."""
    path = Path(path)
    if path.exists():
        if not path.is_dir():
            raise ValueError(f"{path}: is a file; expected {_a(what)}")
        reason = _probe_writable(path)
        if reason:
            raise PermissionError(f"{path}: {what} is not writable ({reason})")
        return path
    base = _nearest_existing(path)
    if not base.is_dir():
        raise ValueError(f"{path}: cannot create the {what}: {base} is a file, not a folder")
    reason = _probe_writable(base)
    if reason:
        raise PermissionError(f"{path}: cannot create the {what}: {base} is not writable ({reason})")
    return path


def require_writable_file(path: str | Path, what: str = "output file",
                          suffixes: tuple[str, ...] | None = None) -> Path:
    """`path` must be a file that can be written: not a folder, the right suffix, and its parent an
    existing writable folder. Nothing is created here."""
    path = Path(path)
    if suffixes is not None and path.suffix.lower() not in suffixes:
        raise ValueError(f"{path}: {what} must end in {' or '.join(suffixes)}")
    if path.is_dir():
        raise ValueError(f"{path}: is a folder; expected {_a(what)}")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.exists():
        raise FileNotFoundError(f"{path}: the folder {parent} does not exist")
    if not parent.is_dir():
        raise ValueError(f"{path}: {parent} is a file, not a folder")
    if path.exists() and not os.access(path, os.W_OK):
        raise PermissionError(f"{path}: {what} exists and is not writable")
    reason = _probe_writable(parent)
    if reason:
        raise PermissionError(f"{path}: cannot write in {parent} ({reason})")
    return path
