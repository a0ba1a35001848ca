"""DESIGN rule 1: the core imports no web, cloud, CLI, template or AI library."""

from __future__ import annotations

import subprocess
import sys

FORBIDDEN = ("fastapi", "starlette", "boto3", "botocore", "click", "jinja2", "openai", "mangum",
             "uvicorn")


def test_core_imports_no_edge_library() -> None:
    code = (
        "import sys\n"
        "import micro.core.render, micro.core.requests, micro.core.catalog\n"
        "import micro.core.microscope.pipeline, micro.core.imaging.render\n"
        "from micro.core.catalog import default_catalog\n"
        "import micro\n"
        "micro.render_microscope(instrument='student-compound', specimen='gram-mixed', size=256)\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"core imported: {out.stdout.strip()}"
