"""Chinese OCR engines compared on rendered phone screenshots (issue #19).

    .venv/bin/python bench/ocr_bench.py [--count 64] [--seed 19] [--engines rapidocr,tesseract]

The screenshots come from tests/screenshots.py (chat and SMS looks, light and dark, four phone
sizes, messages from knowledge/examples, half scams). Each engine runs in a worker process of
its own, through the same pipe protocol as the server's OCR worker (bot/services/pictures/worker.py),
with one thread (ONNX Runtime intra-op threads = 1, OMP_NUM_THREADS=1). For each engine:

- character accuracy: 1 - edit distance / reference length, over the message bubbles only (each
  bubble's text matched against the closest stretch of the reading, so the status bar, header
  and time stamps are ignored); compared after NFKC, without whitespace and emoji
  (tests/screenshots.py: character_accuracy);
- seconds per screenshot: the processor time the worker (and its tesseract) spent on it,
  decoding included, with one thread (mean and p95), and the wall time (higher on a busy machine);
- peak memory: the worker's peak resident set (tesseract: its own process);
- verdict agreement: the share of screenshots for which knowledge.checker.Checker gives the
  same scam type and risk for the whole reading as for the typed example text.

Goals (issue #19): accuracy >= 95%, agreement >= 95%, <= 2 s per screenshot on one core.
"""
from __future__ import annotations

import argparse
import asyncio
import io
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.services.pictures import OcrProcess, PictureError  # noqa: E402

ENGINES = {
    "rapidocr": "bot/services/pictures as shipped: RapidOCR PP-OCRv4 (rapidocr-onnxruntime 1.4.4), scaled to 800 px wide, "
                "no angle classifier",
    "rapidocr-plain": "RapidOCR with its default settings on the picture as sent",
    "tesseract": "Debian tesseract-ocr 5.3 + tesseract-ocr-chi-sim, the picture as sent (PNG on stdin)",
    "tesseract-prep": "the same tesseract after grey-scaling and turning dark themes light",
}
CJK_SPACE = re.compile(r"(?<=[\u3000-\u9fff\uff00-\uffef])\s+(?=[\u3000-\u9fff\uff00-\uffef])")


# --- the engines, each served in its own worker process -------------------------------------------

# Every engine's pieces go through the same layout step as the shipped one (bot/services/pictures/layout.py).

class PlainRapidOcr:
    def __init__(self) -> None:
        from rapidocr_onnxruntime import RapidOCR

        self._ocr = RapidOCR(intra_op_num_threads=1, inter_op_num_threads=1)

    def read(self, data: bytes) -> list[str]:
        from bot.services.pictures.engine import _bounds
        from bot.services.pictures.layout import Piece, message_lines

        width, height = size_of(data)
        result, _ = self._ocr(data)
        return message_lines([Piece(text, *_bounds(box)) for box, text, _ in result or ()], width, height)


class Tesseract:
    def __init__(self, prepare: bool) -> None:
        self.prepare = prepare

    def read(self, data: bytes) -> list[str]:
        from bot.services.pictures.layout import Piece, message_lines

        if self.prepare:
            data = light_grey(data)
        run = subprocess.run(["tesseract", "stdin", "stdout", "-l", "chi_sim", "--psm", "3", "tsv"],
                             input=data, capture_output=True, check=True)
        lines: dict[tuple[str, ...], list[list[str]]] = {}
        for row in run.stdout.decode("utf-8").splitlines()[1:]:
            cells = row.split("\t")
            if len(cells) == 12 and cells[0] == "5" and cells[11].strip():  # level 5: a word
                lines.setdefault(tuple(cells[1:5]), []).append(cells)
        pieces = []
        for words in lines.values():
            left, top = min(int(w[6]) for w in words), min(int(w[7]) for w in words)
            right = max(int(w[6]) + int(w[8]) for w in words)
            bottom = max(int(w[7]) + int(w[9]) for w in words)
            text = CJK_SPACE.sub("", " ".join(w[11].strip() for w in words))
            pieces.append(Piece(text, left, top, right, bottom))
        return message_lines(pieces, *size_of(data))


def size_of(data: bytes) -> tuple[int, int]:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as picture:
        return picture.size


def light_grey(data: bytes) -> bytes:
    from PIL import Image, ImageOps, ImageStat

    grey = Image.open(io.BytesIO(data)).convert("L")
    if ImageStat.Stat(grey).mean[0] < 128:
        grey = ImageOps.invert(grey)
    out = io.BytesIO()
    grey.save(out, format="PNG")
    return out.getvalue()


def serve(name: str) -> None:
    from bot.services.pictures import worker

    engines: dict[str, Callable[[], Any]] = {"rapidocr-plain": PlainRapidOcr, "tesseract": lambda: Tesseract(False),
               "tesseract-prep": lambda: Tesseract(True)}
    worker.main(engines[name])


def engine_process(name: str) -> OcrProcess:
    if name == "rapidocr":
        return OcrProcess(timeout=60)
    return OcrProcess(timeout=60, command=[sys.executable, str(Path(__file__).resolve()), "--serve", name])


# --- measuring ------------------------------------------------------------------------------------

@dataclass
class Result:
    engine: str
    accuracy: list[float]
    seconds: list[float]
    cpu_seconds: list[float]
    peak_mb: float
    agreement: float
    readings: list[str]
    differ: list[tuple[str, tuple, tuple]]  # (screenshot, verdict on the typed text, on the reading)


async def run_engine(name: str, shots: list, checker) -> Result:
    from tests.screenshots import character_accuracy

    process = engine_process(name)
    process.start()
    readings, seconds, cpu_seconds = [], [], []
    try:
        for shot in shots:
            try:
                lines, took, cpu = await process.read(shot.png)
            except PictureError as exc:  # counted as a reading with no words
                print(f"{name} {shot.scene.name}: {exc}", file=sys.stderr)
                lines, took, cpu = [], process.timeout, process.timeout
            readings.append("\n".join(lines))
            seconds.append(took)
            cpu_seconds.append(cpu)
    finally:
        process.stop()
    typed = checker.check_many([s.scene.typed for s in shots])
    read = checker.check_many(readings)
    differ = [(shot.scene.name, (a.scam_type, a.risk), (b.scam_type, b.risk))
              for shot, a, b in zip(shots, typed, read) if (a.scam_type, a.risk) != (b.scam_type, b.risk)]
    return Result(
        engine=name, accuracy=[character_accuracy(s.scene, r) for s, r in zip(shots, readings)],
        seconds=seconds, cpu_seconds=cpu_seconds, peak_mb=process.peak_kb / 1024,
        agreement=1 - len(differ) / len(shots), readings=readings, differ=differ,
    )


def p95(values: list[float]) -> float:
    return sorted(values)[max(0, round(0.95 * len(values)) - 1)]


def table(results: list[Result], shots: list) -> str:
    rows = ["| engine | char. accuracy (mean) | min | screenshots ≥ 95% | CPU s/screenshot mean | p95 | "
            "wall s mean | peak MB | verdict agreement |",
            "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        good = sum(a >= 0.95 for a in r.accuracy) / len(r.accuracy)
        rows.append(f"| {r.engine} | {statistics.mean(r.accuracy):.1%} | {min(r.accuracy):.2f} | {good:.0%} | "
                    f"{statistics.mean(r.cpu_seconds):.2f} | {p95(r.cpu_seconds):.2f} | "
                    f"{statistics.mean(r.seconds):.2f} | {r.peak_mb:.0f} | {r.agreement:.1%} |")
    traditional = [is_traditional(s.scene.typed) for s in shots]
    rows += ["", f"Character accuracy on the {sum(traditional)} screenshots in traditional characters and the "
             f"{len(shots) - sum(traditional)} in simplified ones:", "",
             "| engine | traditional | simplified |", "|---|---|---|"]
    for r in results:
        split = [statistics.mean([a for a, t in zip(r.accuracy, traditional) if t == want] or [float("nan")])
                 for want in (True, False)]
        rows.append(f"| {r.engine} | {split[0]:.1%} | {split[1]:.1%} |")
    styles = [(look, theme) for look in ("sms", "chat") for theme in ("light", "dark")]
    rows += ["", "Character accuracy by look and theme:", "",
             "| engine | " + " | ".join(f"{look} {theme}" for look, theme in styles) + " |", "|---|---|---|---|---|"]
    for r in results:
        cells = []
        for style in styles:
            picked = [a for a, s in zip(r.accuracy, shots) if (s.scene.look, s.scene.theme) == style]
            cells.append(f"{statistics.mean(picked):.1%}")
        rows.append(f"| {r.engine} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def is_traditional(text: str) -> bool:
    import opencc

    return opencc.OpenCC("t2s").convert(text) != text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=64, help="screenshots to render (default 64)")
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--engines", default=",".join(ENGINES), help=f"comma-separated, of: {', '.join(ENGINES)}")
    parser.add_argument("--worst", type=int, default=5, help="show this many worst readings per engine")
    parser.add_argument("--serve", help=argparse.SUPPRESS)  # internal: be the worker for one engine
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return 0
    from knowledge.checker import Checker
    from tests.screenshots import screenshots

    names = [n for n in args.engines.split(",") if n]
    unknown = set(names) - set(ENGINES)
    if unknown:
        parser.error(f"unknown engines: {', '.join(sorted(unknown))}")
    started = time.perf_counter()
    shots = screenshots(args.count, args.seed)
    print(f"rendered {len(shots)} screenshots in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    checker = Checker()
    results = []
    for name in names:
        results.append(asyncio.run(run_engine(name, shots, checker)))
        print(f"{name}: done", file=sys.stderr)
    print(table(results, shots))
    print("\nEngines:\n" + "\n".join(f"- {n}: {ENGINES[n]}" for n in names))
    for r in results:
        worst = sorted(zip(r.accuracy, shots, r.readings), key=lambda x: x[0])[: args.worst]
        print(f"\nVerdicts that differ, {r.engine} (typed -> read):")
        for name, typed, read in r.differ:
            print(f"  {name}: {typed} -> {read}")
        print(f"\nWorst readings, {r.engine}:")
        for accuracy, shot, reading in worst:
            print(f"  {accuracy:.2f} {shot.scene.name}: {' / '.join(b.text for b in shot.scene.bubbles)!r}\n"
                  f"       read: {reading.replace(chr(10), ' | ')!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
