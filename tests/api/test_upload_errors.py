"""Uploads that fail on the server's file system get the problem they are, not "503 database
unavailable": a name too long for a file system is the client's 400, a full disk a 507."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.conftest import program
from tests.live_server import CLI, _wait_until_live, cli_env, free_port
from tests.live_server import LiveServer as Live
from tests.loads_support import AUTH, TOKEN, serve


async def test_an_upload_name_too_long_for_a_file_system_is_a_400(db_url: str) -> None:
    name = "U" * 296 + ".txt"
    async with serve(db_url) as api:
        response = await api.post(
            "/api/load", headers=AUTH, files={"files": (name, b"19850101\t1\t1\t1\n")}
        )
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "300 bytes; at most 255" in response.json()["detail"]


@pytest.mark.slow  # real server or CLI processes
def test_an_upload_onto_a_full_disk_is_a_507(db_url: str, tmp_path: Path) -> None:
    """The server's temporary directory is a 64 KiB tmpfs, mounted in a mount namespace of
    the server's own (a user namespace too when not root, where the database's Unix socket
    may then be out of reach: point WEATHER_TEST_DATABASE_URL at TCP)."""
    unshare = program("unshare", "apt-get install util-linux")
    small = tmp_path / "small"
    small.mkdir()
    port = free_port()
    log = tmp_path / "serve.log"
    mount = 'mount -t tmpfs -o size=64k tmpfs "$TMPDIR" && exec "$@"'
    namespaces = "-m" if os.geteuid() == 0 else "-rm"
    command = [unshare, namespaces, "--propagation", "private", "sh", "-c", mount, "sh"]
    command += [str(CLI), "serve", "--port", str(port)]
    env = cli_env(WEATHER_DATABASE_URL=db_url, WEATHER_ADMIN_TOKEN=TOKEN, TMPDIR=str(small))
    with log.open("w") as stderr:
        process = subprocess.Popen(
            command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=stderr
        )
    try:
        server = Live(f"http://127.0.0.1:{port}", log)
        _wait_until_live(process, server)
        files = {"files": ("USC00110072.txt", b"19850101\t 1\t 1\t 1\n" * 20_000)}
        response = httpx.post(f"{server.base_url}/api/load", headers=AUTH, files=files, timeout=30)
    finally:
        process.terminate()
        process.wait(timeout=20)
    assert response.status_code == 507, response.text
    assert response.json()["detail"] == "the server is out of disk space; it has been logged"
    assert "Retry-After" not in response.headers
