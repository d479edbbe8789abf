"""The database's files and errors: owner-only files and directories, what a missing, empty or
unreadable database is called, and how to recover."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger("stilalarm.console.store")

FILE_MODE = 0o600
"""The database, its -wal/-shm files and backups: owner only (personal data)."""
DIR_MODE = 0o700
"""Directories the store creates for them."""


class StoreError(Exception):
    """The database cannot be used as it is. The message names the file, says what is wrong
    and how to recover; `alarm-console serve` prints it and exits without a traceback."""


class StoreMissing(StoreError, FileNotFoundError):
    """There is no database file (or it is empty) and nobody asked to initialise one."""


def _how_to_recover(path: Path) -> str:
    return (
        f"To recover: stop the service, keep the damaged file aside (mv {path} {path}.damaged), restore "
        "the newest backup (`alarm-console backup`, see hardware/installation.md) to "
        f"{path}, and check it with `alarm-console db check --db {path}`."
    )


def missing_message(path: Path, what: str) -> str:
    return (
        f"{path}: {what}. The console refuses to start an empty event log on its own: the history "
        "and the incident numbering would be lost without a word. If the log should be there, "
        f"restore the newest backup to {path} (see hardware/installation.md). On a new "
        f"installation only, create it once with `alarm-console db init --db {path}` "
        "(or `alarm-console serve --init`)."
    )


def unreadable_message(path: Path, what: str) -> str:
    return f"{path}: {what}. {_how_to_recover(path)}"


def file_state(path: Path) -> str:
    """'missing', 'empty' (0 bytes and no write-ahead log with data) or 'present'."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return "missing"
    if size > 0:
        return "present"
    wal = Path(f"{path}-wal")
    return "present" if wal.exists() and wal.stat().st_size > 0 else "empty"


def make_private_dirs(directory: Path) -> None:
    """Create `directory` and any missing parents 0700 (whatever the umask); leave existing ones."""
    missing: list[Path] = []
    d = directory
    while not d.exists():
        missing.append(d)
        if d.parent == d:
            break
        d = d.parent
    for m in reversed(missing):
        try:
            m.mkdir(mode=DIR_MODE)
        except FileExistsError:
            continue
        os.chmod(m, DIR_MODE)


def create_private_file(path: Path) -> None:
    """Create an empty file 0600 (whatever the umask); an existing one is made private."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
    except FileExistsError:
        make_private(path)
        return
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)


def make_private(path: Path) -> None:
    """Take group and other permissions off an existing file (a log written under an old umask)."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if mode & 0o077:
        try:
            os.chmod(path, mode & ~0o077)
        except PermissionError:
            log.warning("%s is readable by others (mode %o) and this user cannot change it", path, mode)
            return
        log.warning("%s was readable by others (mode %o); made it owner-only (personal data)", path, mode)


def sidecars(path: Path) -> tuple[Path, Path]:
    return Path(f"{path}-wal"), Path(f"{path}-shm")
