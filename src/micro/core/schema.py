"""JSON Schemas of the catalog models (written to data/schema/, checked fresh by a test)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from micro.core.models import MODEL_FILES


def schemas() -> dict[str, dict[str, Any]]:
    return {name: model.model_json_schema() for name, model in MODEL_FILES.items()}


def schema_text(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=1, ensure_ascii=False, sort_keys=True) + "\n"


def write_schemas(target: Path) -> list[Path]:
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in schemas().items():
        path = target / f"{name}.schema.json"
        fd, tmp = tempfile.mkstemp(dir=target, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(schema_text(schema))
        os.replace(tmp, path)
        written.append(path)
    return written
