"""Summarise bench/type_review/readings.yml: for the scams the style hold-out named the wrong type
(and, as a control, the right one), which type definition the text fits by two independent
readings. It says how much of the wrong-type error is the model's and how much is texts that
fit two types.

    .venv/bin/python bench/type_review.py
"""
from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import yaml

READINGS = Path(__file__).resolve().parent / "type_review" / "readings.yml"


def main() -> int:
    rows = yaml.safe_load(READINGS.read_text(encoding="utf-8"))
    for chosen, what in (("other_type", "named the wrong type"), ("example_type", "named the right type (control)")):
        group = [r for r in rows if r["checker"] == chosen]
        agreed = Counter(r["readings"][0] for r in group if r["readings"][0] == r["readings"][1])
        print(f"{len(group)} scams the checker {what}: the two readings agree on {sum(agreed.values())}: "
              + ", ".join(f"{k} {n}" for k, n in agreed.most_common()))
        for i in (0, 1):
            print(f"  reading {i + 1}: " + ", ".join(f"{k} {n}" for k, n in Counter(r['readings'][i] for r in group).most_common()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
