"""CI gate: measured metrics must not drop below the floors in ``eval/floors.toml``.

Floors are flat metric names as in metrics.json (``hybrid_hit@1 = 0.95``) under ``[floors]``.
A floor whose metric was not measured (or is undefined, e.g. abstention recall on a set with no
unanswerable question) is a violation: a gate that silently passes proves nothing.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path

from eval.metrics import MetricValue

# Metrics are means of 0/1 values over small sets; 0.95 must not fail on 0.9499999999.
_EPSILON = 1e-9


def load_floors(path: Path, table: str = "floors") -> dict[str, float]:
    """The ``[floors]`` table (or another named one) of a TOML file, as ``{metric: floor}``."""
    with Path(path).open("rb") as f:
        data = tomllib.load(f)
    found = data.get(table)
    if not isinstance(found, dict) or not found:
        tables = ", ".join(k for k, v in data.items() if isinstance(v, dict)) or "none"
        raise ValueError(f"{path}: no [{table}] table (tables: {tables})")
    floors: dict[str, float] = {}
    for name, value in found.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{path}: floor of {name!r} must be a number, got {value!r}")
        floors[name] = float(value)
    return floors


def check(metrics: Mapping[str, MetricValue], floors: Mapping[str, float]) -> list[str]:
    """Readable violations, one per floor not met (empty when the gate passes)."""
    violations = []
    for name, floor in floors.items():
        measured = metrics.get(name)
        if measured is None:
            state = "not measured" if name not in metrics else "undefined on this set"
            violations.append(f"{name}: {state} (floor {floor:.3f})")
        elif measured < floor - _EPSILON:
            violations.append(f"{name}: {measured:.3f} < floor {floor:.3f}")
    return violations


def gate_table(metrics: Mapping[str, MetricValue], floors: Mapping[str, float]) -> str:
    """Markdown table of metric / floor / measured / status for every floor."""
    from eval.report import fmt, markdown_table

    rows = []
    for name, floor in floors.items():
        measured = metrics.get(name)
        ok = measured is not None and measured >= floor - _EPSILON
        rows.append([name, f"{floor:.3f}", fmt(measured), "ok" if ok else "FAIL"])
    return markdown_table(["Metric", "Floor", "Measured", "Status"], rows)
