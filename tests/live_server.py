"""``weather-api serve`` as a real process on 127.0.0.1, for the tests that need uvicorn
itself: its workers, its logging, a client that only talks HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

CLI = Path(sys.executable).with_name("weather-api")
START_TIMEOUT_S = 60


@dataclass(frozen=True)
class LiveServer:
    base_url: str
    log: Path  # the server's stderr

    def log_lines(self) -> list[str]:
        return self.log.read_text().splitlines()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cli_env(**overrides: str) -> dict[str, str]:
    """The environment without this shell's WEATHER_* settings, plus the overrides."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEATHER_")}
    return env | {"WEATHER_AUTOLOAD": "false", "WEATHER_ENVIRONMENT": "test"} | overrides


@contextmanager
def live_server(
    database_url: str, workdir: Path, *args: str, entrypoint: Path | None = None, **env: str
) -> Iterator[LiveServer]:
    """Serve ``database_url`` until the block ends; the working directory has no .env.
    With ``entrypoint``, the container's entrypoint script starts the server instead."""
    port = free_port()
    log = workdir / f"serve-{port}.log"
    command: list[str | Path] = [CLI, "serve", "--host", "127.0.0.1", "--port", str(port), *args]
    if entrypoint is not None:
        command = ["sh", entrypoint]
        env |= {"WEATHER_API_BIN": str(CLI), "WEATHER_HOST": "127.0.0.1"}
        env |= {"WEATHER_PORT": str(port), "WEATHER_WORKERS": "1"}
    with log.open("w") as stderr:
        process = subprocess.Popen(
            command,
            cwd=workdir,
            env=cli_env(WEATHER_DATABASE_URL=database_url, **env),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    server = LiveServer(f"http://127.0.0.1:{port}", log)
    try:
        _wait_until_live(process, server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _wait_until_live(process: subprocess.Popen[bytes], server: LiveServer) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"serve exited with {process.returncode}:\n{server.log.read_text()}"
            )
        try:
            if httpx.get(f"{server.base_url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"serve not live after {START_TIMEOUT_S} s:\n{server.log.read_text()}")
