"""NLU gate: evaluate the trained model on the held-out test file and fail below a macro-F1.

Runs `rasa test nlu` (never trains on the test file) on the server as it runs, with
bot/rasa_patches/ installed (tests/test_patch_parity.py shows stock Rasa answers the same; its
loader takes 20 s more), prints intent macro-F1, the worst intents, and the FAQ
response-selection accuracy.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="models/fanzha.tar.gz")
    parser.add_argument("--test-file", default="tests/nlu/holdout.yml")
    parser.add_argument("--out", default="results/nlu")
    parser.add_argument("--min-macro-f1", type=float, default=0.90)
    args = parser.parse_args()

    subprocess.run(
        [sys.executable, "-m", "bot.cli.rasa_server", "test", "nlu", "--model", args.model, "--nlu", args.test_file, "--domain", "bot/domain",
         "--out", args.out, "--no-plot", "--quiet"],
        check=True,
    )
    report = json.loads((Path(args.out) / "intent_report.json").read_text(encoding="utf-8"))
    macro_f1 = report["macro avg"]["f1-score"]
    per_intent = {k: v for k, v in report.items() if isinstance(v, dict) and "support" in v and " avg" not in k}
    worst = sorted(per_intent.items(), key=lambda kv: kv[1]["f1-score"])[:5]
    print(f"NLU held-out intent macro-F1: {macro_f1:.3f} (gate {args.min_macro_f1:.2f}, "
          f"{int(report['macro avg']['support'])} examples, {len(per_intent)} intents)")
    print("  lowest: " + ", ".join(f"{k} {v['f1-score']:.2f}" for k, v in worst))
    selection = Path(args.out) / "response_selection_report.json"
    if selection.exists():
        faq = json.loads(selection.read_text(encoding="utf-8"))
        print(f"FAQ response selection accuracy: {faq.get('accuracy', faq.get('micro avg', {}).get('f1-score', 0)):.3f}")
    if macro_f1 < args.min_macro_f1:
        print(f"NLU gate FAILED: macro-F1 {macro_f1:.3f} < {args.min_macro_f1:.2f}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
