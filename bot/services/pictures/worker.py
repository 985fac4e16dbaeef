"""The OCR worker process: ``python -m bot.services.pictures.worker``, started by bot/services/pictures/client.py.

Reads pictures from stdin (a 4-byte big-endian length, then the bytes) and answers each with
one JSON line on stdout: {"lines": [...], "seconds": s, "cpu_seconds": s, "peak_kb": n} or
{"error": reason, ...}.
A first line {"ready": true, ...} says the models are loaded. It ends when stdin closes, so
it never outlives the server that started it.
"""
from __future__ import annotations

import json
import os
import resource
import struct
import sys
import time
from typing import BinaryIO, Callable, Protocol

from bot.services.pictures.reading import PictureError


class Reader(Protocol):
    def read(self, data: bytes) -> list[str]: ...


def main(make_engine: Callable[[], Reader] | None = None) -> None:
    """Serve pictures on stdin/stdout; ``make_engine`` lets bench/ocr_bench.py serve other engines."""
    # Our answers go to the real stdout; anything a library prints goes to stderr instead.
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    pictures = sys.stdin.buffer

    if make_engine is None:
        from bot.services.pictures.engine import Engine

        engine: Reader = Engine(threads=int(os.environ.get("FANZHA_OCR_THREADS", "1")))
    else:
        engine = make_engine()
    _answer(answers, {"ready": True})
    while (data := _next_picture(pictures)) is not None:
        started, cpu = time.perf_counter(), _cpu_seconds()
        try:
            reply: dict = {"lines": engine.read(data)}
        except PictureError as exc:
            reply = {"error": exc.reason, "detail": str(exc)}
        except Exception as exc:  # the engine choking on one picture must not end the worker
            reply = {"error": "failed", "detail": type(exc).__name__}
        reply["seconds"] = round(time.perf_counter() - started, 4)
        reply["cpu_seconds"] = round(_cpu_seconds() - cpu, 4)
        _answer(answers, reply)


def _next_picture(stream: BinaryIO) -> bytes | None:
    header = stream.read(4)
    if len(header) < 4:
        return None
    (size,) = struct.unpack(">I", header)
    data = stream.read(size)
    return data if len(data) == size else None


def _cpu_seconds() -> float:
    """Processor time of this process and the programs it ran (the bench's tesseract)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def _answer(out, reply: dict) -> None:
    # An engine that runs a program of its own (tesseract in the bench) peaks in that child.
    reply["peak_kb"] = max(resource.getrusage(who).ru_maxrss
                           for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    out.write(json.dumps(reply, ensure_ascii=False) + "\n")
    out.flush()


if __name__ == "__main__":
    main()
