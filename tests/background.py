"""Something slow to start (an environment to install, a server to start) started in a background thread when the
tests are collected, so that it overlaps the rest of the suite; its tests run last and wait for it.

The processes it starts run each in a process group of its own and are ended with the session; once the
session ends, nothing new starts.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any


class BackgroundStart:
    """One background start: ``open_work()`` makes its work folder; ``begin(start)`` runs ``start()`` in a daemon
    thread (a session that ends early does not wait for it); ``result()`` waits for what it returned (or raises
    what it raised)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.work: Path | None = None
        self._future: Future | None = None
        self._children: list[subprocess.Popen] = []
        self._stops: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    @property
    def begun(self) -> bool:
        return self._future is not None

    def open_work(self) -> Path:
        self.work = Path(tempfile.mkdtemp(prefix=self.prefix))
        return self.work

    def begin(self, start: Callable[[], Any]) -> None:
        self._future = future = Future()

        def run() -> None:
            try:
                future.set_result(start())
            except BaseException as error:  # noqa: BLE001 - raised where a test reads the result
                future.set_exception(error)

        threading.Thread(target=run, daemon=True).start()

    def result(self) -> Any:
        assert self._future is not None, "begin() was not called"
        return self._future.result()

    def begin_when_collected(self, session: Any, folder: Path, start: Callable[[Path], Any]) -> None:
        """From ``pytest_collection_finish``: ``start(work folder)`` begun when the session runs tests of
        ``folder``."""
        if session.config.option.collectonly or not any(item.path.is_relative_to(folder) for item in session.items):
            return
        work = self.open_work()
        self.begin(lambda: start(work))

    def process(self, command: list[str], log: Path, **options: Any) -> subprocess.Popen:
        """``command`` started with its output in ``log``, ended with the session."""
        with self._lock:
            self._refuse_once_stopping()
            with open(log, "w") as output:
                child = subprocess.Popen(
                    command, stdout=output, stderr=subprocess.STDOUT, start_new_session=True, **options
                )
            self._children.append(child)
            return child

    def adopt(self, create: Callable[[], Any]) -> Any:
        """``create()``'s result (made unless the session is ending), its ``stop()`` called at the session's end."""
        with self._lock:
            self._refuse_once_stopping()
            made = create()
            self._stops.append(made.stop)
            return made

    def _refuse_once_stopping(self) -> None:
        if self._stopping.is_set():
            raise RuntimeError("the session ended before the start was done")

    def finish(self) -> None:
        """End every process and stop everything adopted; remove the work folder."""
        with self._lock:
            self._stopping.set()
            for child in self._children:
                if child.poll() is None:
                    os.killpg(child.pid, signal.SIGTERM)
            for stop in self._stops:
                stop()
        for child in self._children:
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()
        if self.work is not None:
            shutil.rmtree(self.work, ignore_errors=True)


class NotInstallable(RuntimeError):
    """The registry did not give a working environment."""


def installed_environment(
    background: BackgroundStart, folder: Path, installs: list[list[str]], log: Path, timeout_s: float
) -> Path:
    """``folder/bin`` of a virtual environment made there with ``pip install`` of each of ``installs`` (argument
    lists) in turn, unless an earlier session finished making it. ``NotInstallable`` with pip's last line when
    an install fails or takes over ``timeout_s``."""
    done = folder / ".installed"
    if not done.exists():
        shutil.rmtree(folder, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True, timeout=300)
        pip = [str(folder / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        for arguments in installs:
            installer = background.process([*pip, *arguments], log)
            try:
                status = installer.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                raise NotInstallable(f"pip install {' '.join(arguments)[:80]} took over {timeout_s} s") from None
            if status != 0:
                lines = [line for line in log.read_text().splitlines() if line.strip() and "WARNING" not in line]
                raise NotInstallable(f"pip install {' '.join(arguments)[:80]} failed: {(lines or ['?'])[-1][:160]}")
        done.touch()
    return folder / "bin"
