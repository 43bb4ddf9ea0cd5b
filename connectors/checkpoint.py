"""The checkpoint: one small JSON document per connector instance, replaced atomically, holding the source's
position and the raw topic's end offsets at that moment (see ``connectors/run.py`` for how both are used)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from connectors.source import ConnectorError
from schemas.settings import KafkaSettings


class Checkpoint:
    """A small JSON document per connector instance, replaced atomically (write + fsync + rename)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def load(self) -> dict[str, Any]:
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except ValueError as err:
            raise ConnectorError(f"checkpoint {self.path} is corrupt ({err}); move it away to start over") from None

    def save(self, state: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(state, fh, ensure_ascii=False)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)


def default_checkpoint_path(kafka: KafkaSettings, source: str, ident: str) -> Path:
    """Where a connector keeps its checkpoint unless ``--checkpoint`` says: one file per (cluster, topic,
    source instance), so two instances never share a position."""
    digest = hashlib.sha1(f"{kafka.bootstrap}|{kafka.raw_topic}|{ident}".encode()).hexdigest()
    return Path(".lingting") / "checkpoints" / f"{source}-{digest[:12]}.json"
