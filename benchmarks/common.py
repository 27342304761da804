"""Shared by the benchmarks: the packaged Alpaca-GPT4 demo records as the pipelines' normalised records."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def alpaca_records(n: int) -> list[dict]:
    """The first ``n`` records of ``data/01_raw/alpaca_en_demo.json`` as ``{"id", "messages": [user, assistant]}``
    (instruction and input joined by a blank line, as the pool's Alpaca reader does)."""
    rows = json.loads((ROOT / "data/01_raw/alpaca_en_demo.json").read_text(encoding="utf-8"))[:n]
    out = []
    for i, r in enumerate(rows):
        user = (r["instruction"].strip() + "\n\n" + r.get("input", "").strip()).strip()
        out.append({"id": f"alpaca{i}", "messages": [{"role": "user", "content": user},
                                                     {"role": "assistant", "content": r["output"]}]})
    return out
