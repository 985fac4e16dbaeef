"""The server's side of the OCR worker: one long-lived process, started on first use.

OCR needs a few hundred MB for its models and a core while it reads, so it runs in its own
process (``python -m bot.services.pictures.worker``): the server's memory stays what it was, a picture
that crashes the engine cannot take the server down, and a stuck one is killed after
``timeout`` seconds. One picture is read at a time; up to ``max_waiting`` wait their turn and
more are refused as "busy". A worker that died is started again for the next picture.
The picture goes to the worker through a pipe, never through a file.
"""
from __future__ import annotations

import asyncio
import json
import os
import select
import struct
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple, Sequence

from bot.services.pictures.reading import PictureError

PROJECT_ROOT = Path(__file__).resolve().parents[3]
# The worker parses untrusted pictures: it gets no secrets, only what it needs to run.
PASSED_ENVIRONMENT = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
                      "FANZHA_OCR_THREADS")


class Answer(NamedTuple):
    lines: list[str]
    seconds: float  # the worker's time for this picture, decoding included
    cpu_seconds: float  # the processor time it took (differs from seconds on a busy machine)


class OcrProcess:
    def __init__(self, max_waiting: int = 4, timeout: float = 20.0, start_timeout: float = 120.0,
                 command: Sequence[str] = (sys.executable, "-m", "bot.services.pictures.worker")) -> None:
        self.command = list(command)
        self.max_waiting = max_waiting
        self.timeout = timeout
        self.start_timeout = start_timeout
        self.peak_kb = 0  # the worker's peak resident memory, as it last reported
        self._turn = threading.Lock()  # one picture in the worker at a time
        self._count = threading.Lock()
        self._waiting = 0
        self._process: subprocess.Popen | None = None
        self._threads = ThreadPoolExecutor(max_workers=max_waiting, thread_name_prefix="ocr-wait")

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process and self._process.poll() is None else None

    async def read(self, data: bytes) -> Answer:
        """The lines of an already checked picture; PictureError if the worker could not read it."""
        with self._count:
            if self._waiting >= self.max_waiting:
                raise PictureError("busy", f"{self._waiting} pictures already waiting")
            self._waiting += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._threads, self._exchange, data)
        finally:
            with self._count:
                self._waiting -= 1

    def start(self) -> None:
        """Start the worker now (it is started on first use anyway) and wait until it is ready."""
        with self._turn:
            self._running()

    def stop(self) -> None:
        with self._turn:
            self._stop()

    def _exchange(self, data: bytes) -> Answer:
        with self._turn:
            process = self._running()
            try:
                process.stdin.write(struct.pack(">I", len(data)) + data)
                process.stdin.flush()
                reply = self._reply(process, self.timeout)
            except (OSError, TimeoutError, EOFError, ValueError) as exc:  # ValueError: not our JSON
                self._stop()  # stuck or dead: the next picture gets a fresh worker
                raise PictureError("failed", f"OCR worker: {type(exc).__name__} {exc}") from exc
        if "error" in reply:
            raise PictureError(reply["error"], reply.get("detail", ""))
        return Answer(list(reply["lines"]), float(reply["seconds"]), float(reply["cpu_seconds"]))

    def _running(self) -> subprocess.Popen:
        if self._process is not None and self._process.poll() is None:
            return self._process
        self._stop()
        environment = {k: os.environ[k] for k in PASSED_ENVIRONMENT if k in os.environ}
        # One thread each for OpenMP and OpenBLAS: ONNX Runtime's own thread count is set in engine.py.
        environment.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", PYTHONPATH=str(PROJECT_ROOT))
        self._process = subprocess.Popen(
            self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            env=environment, close_fds=True,
        )
        try:
            self._reply(self._process, self.start_timeout)
        except (OSError, TimeoutError, EOFError, ValueError) as exc:  # ValueError: not our JSON
            self._stop()
            raise PictureError("failed", f"OCR worker did not start: {type(exc).__name__} {exc}") from exc
        return self._process

    def _reply(self, process: subprocess.Popen, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while not select.select([process.stdout], [], [], max(0.0, deadline - time.monotonic()))[0]:  # type: ignore[type-var]  # a pipe
            if time.monotonic() >= deadline:
                raise TimeoutError(f"no answer in {timeout:.0f} s")
        line = process.stdout.readline()
        if not line:
            raise EOFError(f"worker ended (exit code {process.wait(5)})")
        reply = json.loads(line)
        self.peak_kb = max(self.peak_kb, int(reply.get("peak_kb", 0)))
        return reply

    def _stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.kill()
        process.wait()
        for stream in (process.stdin, process.stdout):
            try:
                stream.close()
            except OSError:
                pass
