"""vidzoo benchmarks (not tests): `python -m benchmarks` runs them all; see docs/performance.md."""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def write_results(results: dict, out: Path) -> Path:
    """The benchmark's JSON, written (again) to out; folders made as needed."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    return out
