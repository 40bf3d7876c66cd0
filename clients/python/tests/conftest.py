"""Fixtures: the ticker server the Go test started (TICKER_ADDR), and the
binary itself (TICKER_BIN) for tests that need a server of their own."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the package, without installing it


def _need(var: str) -> str:
    v = os.environ.get(var, "")
    if not v:
        pytest.skip(f"{var} is not set: run these tests through `go test -run TestPythonClient .` at the repository root")
    return v


@pytest.fixture(scope="session")
def addr() -> str:
    """host:port of a running server with the default synthetic feed."""
    return _need("TICKER_ADDR")


@pytest.fixture(scope="session")
def ticker_bin() -> str:
    return _need("TICKER_BIN")


@pytest.fixture(scope="session")
def repo() -> Path:
    return Path(_need("TICKER_REPO"))


def free_addr() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


class Server:
    """One ticker process on a loopback port, started and stopped by a test."""

    def __init__(self, binary: str, args: list[str], addr: str | None = None) -> None:
        self.binary, self.args = binary, args
        self.addr = addr or free_addr()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"ws://{self.addr}/ws"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, "--addr", self.addr, *self.args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise RuntimeError(f"ticker exited {self.proc.returncode}: {err}")
            try:
                with urllib.request.urlopen(f"http://{self.addr}/healthz", timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"ticker not serving on {self.addr} within 15s")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def server_factory(ticker_bin: str) -> Iterator[Callable[..., Server]]:
    started: list[Server] = []

    def make(args: list[str], addr: str | None = None) -> Server:
        s = Server(ticker_bin, args, addr)
        s.start()
        started.append(s)
        return s

    yield make
    for s in started:
        s.stop()
