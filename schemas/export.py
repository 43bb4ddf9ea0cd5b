"""Export JSON Schema files of the wire models, so non-Python producers can validate.

Run ``python -m schemas.export`` (or ``lingting schemas``); tests check the files are current.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from schemas import Alert, DeadLetter, EnrichedPost, RawPost

MODELS = {"raw_post": RawPost, "enriched_post": EnrichedPost, "alert": Alert, "dead_letter": DeadLetter}
SCHEMA_DIR = Path(__file__).parent / "json"


def render(model) -> str:
    return json.dumps(model.model_json_schema(), ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def export(directory: Path = SCHEMA_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, model in MODELS.items():
        path = directory / f"{name}.schema.json"
        path.write_text(render(model), encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for p in export(Path(sys.argv[1]) if len(sys.argv) > 1 else SCHEMA_DIR):
        print(p)
