"""One state directory per worker process, so several workers with the same config share a machine.

Faust keeps its table state and version files under ``datadir``; two workers writing the same directory would
overwrite each other. Each worker takes the first free slot ``<data_dir>/worker-N`` and holds an exclusive
``flock`` on it for its lifetime: a restarted worker gets a slot back (no directory per PID piling up), and a
worker killed with -9 releases its slot because the kernel drops the lock with the process.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

MAX_SLOTS = 256


class StateDir:
    """A claimed ``worker-N`` directory; the lock lasts as long as this object (or the process)."""

    def __init__(self, path: Path, lock: IO[bytes]) -> None:
        self.path = path
        self._lock = lock

    @classmethod
    def claim(cls, data_dir: str | Path) -> StateDir:
        """The first slot under ``data_dir`` that no live process holds (parents are created)."""
        root = Path(data_dir).expanduser()
        root.mkdir(parents=True, exist_ok=True)
        for n in range(MAX_SLOTS):
            path = root / f"worker-{n}"
            path.mkdir(exist_ok=True)
            lock = open(path / ".lock", "ab")
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                lock.close()
                continue
            lock.truncate(0)
            lock.write(f"{os.getpid()}\n".encode())
            lock.flush()
            return cls(path.resolve(), lock)
        raise RuntimeError(f"all {MAX_SLOTS} worker state slots under {root} are in use")

    def release(self) -> None:
        self._lock.close()
