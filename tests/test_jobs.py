"""Load jobs over HTTP against a real database: every source kind, the admin guard, one load
at a time, hostile sources, and loads stopped by SIGKILL and SIGTERM."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import logging
import os
import re
import signal
import subprocess
import tarfile
import tempfile
import time
import zipfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx import ASGITransport, AsyncClient
from pydantic import SecretStr
from sqlalchemy import text

from tests.conftest import settings_for
from tests.live_server import CLI, cli_env, free_port
from tests.sample import STATIONS, pack_archive, read_days, write_sample
from weather_api.app import create_app
from weather_api.database import create_engine
from weather_api.loader import LOAD_LOCK_KEY, Loader
from weather_api.sources import CHUNK, SourceError, SourceLimits, extract

TOKEN = "test-admin-token-5b1f0c"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
FINISHED = {"succeeded", "failed", "interrupted"}
WAIT_S = 120
# Generated stations for the loads that must still be running when the test acts: 30 years
# each, about 3 s of loading in all.
BIG_STATIONS = 60
BIG_FIRST, BIG_LAST = dt.date(1985, 1, 1), dt.date(2014, 12, 31)


@asynccontextmanager
async def serve(db_url: str, **overrides: Any) -> AsyncIterator[AsyncClient]:
    """The app over the test's own database (so loads can write), with the admin token."""
    app = create_app(settings_for(db_url, **({"admin_token": SecretStr(TOKEN)} | overrides)))
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client,
    ):
        yield client


async def wait_for(
    client: AsyncClient, job_id: int, statuses: set[str] = FINISHED
) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        job: dict[str, Any] = (await client.get(f"/api/load/{job_id}", headers=AUTH)).json()
        if job["status"] in statuses:
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} not {statuses} after {WAIT_S} s")


async def post_load(client: AsyncClient, **kwargs: Any) -> dict[str, Any]:
    response = await client.post("/api/load", headers=AUTH, **kwargs)
    assert response.status_code == 202, response.text
    job: dict[str, Any] = response.json()
    assert response.headers["location"] == f"/api/load/{job['id']}"
    # The job as it is by the time the answer is written: a quick failure may already show.
    assert job["status"] in {"queued", "running", *FINISHED}
    assert job["trigger"] == "api"
    return job


async def scalar_jobs(client: AsyncClient) -> int:
    total: int = (await client.get("/api/load", headers=AUTH)).json()["total"]
    return total


async def load_ok(client: AsyncClient, **kwargs: Any) -> dict[str, Any]:
    job = await wait_for(client, (await post_load(client, **kwargs))["id"])
    assert job["status"] == "succeeded", job
    return job


async def scalar(url: str, sql: str) -> Any:
    engine = create_engine(url, settings_for(url), pool_size=1)
    try:
        async with engine.connect() as conn:
            return await conn.scalar(text(sql))
    finally:
        await engine.dispose()


async def station_counts(url: str) -> dict[str, int]:
    engine = create_engine(url, settings_for(url), pool_size=1)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text("SELECT station_id, count(*) FROM observations GROUP BY station_id")
            )
            return {station: int(count) for station, count in rows}
    finally:
        await engine.dispose()


def write_big(root: Path) -> int:
    """BIG_STATIONS station files of 30 years each; returns the lines per file."""
    lines = []
    day = BIG_FIRST
    while day <= BIG_LAST:
        lines.append(f"{day:%Y%m%d}\t  {day.day * 10:3d}\t  -15\t{day.month:5d}")
        day += dt.timedelta(days=1)
    body = "\n".join(lines) + "\n"
    (root / "wx_data").mkdir(parents=True)
    for i in range(BIG_STATIONS):
        (root / "wx_data" / f"USC00{110000 + i:06d}.txt").write_text(body)
    return len(lines)


def assert_whole_files(counts: dict[str, int], lines: int) -> None:
    """Each station is loaded whole or not at all."""
    assert all(count == lines for count in counts.values()), counts


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """The data root, holding the sample under ``sample``."""
    write_sample(tmp_path / "root" / "sample")
    return (tmp_path / "root").resolve()


@pytest.fixture(scope="session")
def big_root(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """A data root holding BIG_STATIONS generated stations under ``big``."""
    root = tmp_path_factory.mktemp("big-root")
    return root, write_big(root / "big")


@pytest.fixture
async def api(db_url: str, root: Path) -> AsyncIterator[AsyncClient]:
    async with serve(db_url, data_root=root) as client:
        yield client


# --- every source kind ------------------------------------------------------------------------


async def test_directory_source_loads_and_reports_the_cli_counts(
    api: AsyncClient, root: Path
) -> None:
    days = read_days(root / "sample")
    job = await load_ok(api, json={"source": "sample"})
    assert job["trigger"] == "api"
    assert job["source"] == "sample"
    assert (job["files_total"], job["files_done"], job["files_loaded"]) == (4, 4, 4)
    assert (job["files_skipped"], job["files_failed"], job["errors"]) == (0, 0, [])
    assert job["records_read"] == job["inserted"] == len(days)
    assert (job["updated"], job["unchanged"]) == (0, 0)
    assert isinstance(job["duration_s"], float)
    weather = await api.get("/api/weather", params={"station_id": STATIONS[0], "page_size": 1})
    assert weather.json()["total"] == sum(1 for d in days if d.station_id == STATIONS[0])
    # An absolute path inside the root works too; nothing changed, so all files are skipped.
    again = await load_ok(api, json={"source": str(root / "sample")})
    assert (again["files_skipped"], again["inserted"]) == (4, 0)


async def test_upload_of_station_and_yield_files(api: AsyncClient, root: Path) -> None:
    sample = root / "sample"
    paths = [*sorted((sample / "wx_data").glob("*.txt")), *(sample / "yld_data").glob("*.txt")]
    files = [("files", (p.name, p.read_bytes(), "text/plain")) for p in paths]
    job = await load_ok(api, files=files)
    assert job["source"].startswith("upload: ")
    assert job["files_loaded"] == 4
    assert job["inserted"] == len(read_days(sample))
    years = (await api.get("/api/yield")).json()["items"]
    assert [y["year"] for y in years] == [1985, 1986]


@pytest.mark.parametrize("suffix", [".zip", ".tar.gz"])
async def test_upload_of_an_archive(
    api: AsyncClient, root: Path, tmp_path: Path, suffix: str
) -> None:
    archive = pack_archive(root / "sample", tmp_path / f"data{suffix}")
    job = await load_ok(api, files={"files": (archive.name, archive.read_bytes())})
    assert job["files_loaded"] == 4
    assert job["inserted"] == len(read_days(root / "sample"))


async def test_bad_upload_fails_the_job_with_file_and_line(api: AsyncClient) -> None:
    good = "".join(f"198501{d:02d}\t 10\t 0\t 0\n" for d in range(1, 10))
    bad = good + "19850110\t 12\toops\t 0\n"
    files = [
        ("files", ("USC00110072.txt", bad.encode())),
        ("files", ("USC00257715.txt", good.encode())),
    ]
    job = await wait_for(api, (await post_load(api, files=files))["id"])
    assert job["status"] == "failed"
    assert (job["files_loaded"], job["files_failed"]) == (1, 1)
    [error] = job["errors"]
    assert (error["file"], error["line"]) == ("USC00110072.txt", 10)
    assert "min temperature 'oops'" in error["message"]


async def test_url_source_from_a_local_server(
    api: AsyncClient, root: Path, http_server: tuple[str, Path]
) -> None:
    base, www = http_server
    pack_archive(root / "sample", www / "data.tar.gz")
    # Credentials and a query (a token) go to the server, never into the job or its errors.
    secret = base.replace("http://", "http://reader:s3cret@")
    job = await load_ok(api, json={"source": f"{secret}/data.tar.gz?token=t0ken"})
    assert job["files_loaded"] == 4
    assert job["source"] == base.replace("http://", "http://***@") + "/data.tar.gz?***"
    missing = await wait_for(
        api, (await post_load(api, json={"source": f"{secret}/no.zip?token=t0ken"}))["id"]
    )
    assert missing["status"] == "failed"
    assert "HTTP 404" in missing["message"]
    listed = (await api.get("/api/load", headers=AUTH)).text
    assert not {"s3cret", "t0ken"} & set(re.findall(r"\w+", listed))


async def test_no_body_loads_the_configured_source(db_url: str, root: Path) -> None:
    async with serve(db_url, data_root=root, data_source="sample") as client:
        job = await load_ok(client)
    assert job["source"] == "sample"
    assert job["files_loaded"] == 4


async def test_etag_changes_when_a_load_completes(api: AsyncClient) -> None:
    before = await api.get("/api/weather")
    assert before.json()["total"] == 0
    await load_ok(api, json={"source": "sample"})
    after = await api.get("/api/weather")
    assert after.headers["etag"] != before.headers["etag"]
    assert after.json()["total"] > 0
    stale = await api.get("/api/weather", headers={"If-None-Match": before.headers["etag"]})
    assert stale.status_code == 200


async def test_jobs_list_newest_first_with_pages(api: AsyncClient) -> None:
    ids = [(await load_ok(api, json={"source": "sample"}))["id"] for _ in range(3)]
    first = await api.get("/api/load", params={"page_size": 2}, headers=AUTH)
    assert first.status_code == 200
    body = first.json()
    assert [job["id"] for job in body["items"]] == ids[::-1][:2]
    assert (body["total"], body["pages"]) == (3, 2)
    assert 'rel="next"' in first.headers["link"]
    second = (await api.get(body["links"]["next"], headers=AUTH)).json()
    assert [job["id"] for job in second["items"]] == ids[:1]
    assert second["links"]["next"] is None
    missing = await api.get("/api/load/999999", headers=AUTH)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


async def test_malformed_requests(api: AsyncClient) -> None:
    wrong_type = await api.post("/api/load", headers=AUTH, content=b"sample")
    assert wrong_type.status_code == 415
    unknown = await api.post("/api/load", headers=AUTH, json={"path": "sample"})
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["param"] == "path"
    not_json = await api.post(
        "/api/load", headers=AUTH | {"Content-Type": "application/json"}, content=b"{"
    )
    assert not_json.status_code == 422
    fields_only = await api.post(
        "/api/load",
        headers=AUTH | {"Content-Type": "multipart/form-data; boundary=b"},
        content=b'--b\r\nContent-Disposition: form-data; name="source"\r\n\r\nsample\r\n--b--\r\n',
    )
    assert fields_only.status_code == 400
    assert "no file" in fields_only.json()["detail"]
    huge = await api.post("/api/load", headers=AUTH, json={"source": "x" * 100_000})
    assert huge.status_code == 413
    assert await scalar_jobs(api) == 0


# --- the admin guard --------------------------------------------------------------------------


async def test_no_token_configured_is_403_saying_how_to_enable(db_url: str, root: Path) -> None:
    async with serve(db_url, data_root=root, admin_token=None) as client:
        for response in (
            await client.post("/api/load", json={"source": "sample"}),
            await client.get("/api/load", headers=AUTH),
        ):
            assert response.status_code == 403
            assert response.headers["content-type"] == "application/problem+json"
            assert "WEATHER_ADMIN_TOKEN" in response.json()["detail"]
        assert (await client.get("/api/weather")).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": "Bearer"},
    ],
    ids=["missing", "wrong", "longer", "basic", "empty"],
)
async def test_missing_or_wrong_token_is_401(api: AsyncClient, headers: dict[str, str]) -> None:
    for response in (
        await api.post("/api/load", headers=headers, json={"source": "sample"}),
        await api.get("/api/load", headers=headers),
        await api.get("/api/load/1", headers=headers),
    ):
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert TOKEN not in response.text
    assert (await api.get("/api/weather")).status_code == 200
    assert await scalar_jobs(api) == 0


async def test_the_token_never_reaches_the_logs(
    api: AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await load_ok(api, json={"source": "sample"})
    await api.get("/api/load", headers={"Authorization": f"Bearer {TOKEN}-wrong"})
    await api.get("/api/load", headers={"Authorization": f"Bearer {TOKEN[:-1]}"})
    assert "refused GET /api/load" in caplog.text  # the records were captured
    assert TOKEN[:-1] not in caplog.text


async def test_openapi_declares_the_bearer_scheme_on_admin_operations_only(
    api: AsyncClient,
) -> None:
    document = (await api.get("/openapi.json")).json()
    schemes = document["components"]["securitySchemes"]
    assert schemes["AdminToken"]["type"] == "http"
    assert schemes["AdminToken"]["scheme"].lower() == "bearer"
    reads = ("/api/weather", "/api/stations", "/api/yield", "/health")
    for path, item in document["paths"].items():
        for method, operation in item.items():
            secured = operation.get("security") == [{"AdminToken": []}]
            if path.startswith("/api/load"):
                assert secured, f"{method} {path}"
            elif path.startswith(reads):
                assert "security" not in operation, f"{method} {path}"
    post = document["paths"]["/api/load"]["post"]
    assert set(post["requestBody"]["content"]) == {"application/json", "multipart/form-data"}
    assert {"202", "401", "403", "409", "413"} <= set(post["responses"])


# --- one load at a time -----------------------------------------------------------------------


async def test_second_load_while_one_runs_is_409_naming_it(
    db_url: str, big_root: tuple[Path, int]
) -> None:
    root, _ = big_root
    async with serve(db_url, data_root=root) as client:
        first = await post_load(client, json={"source": "big"})
        busy = await client.post("/api/load", headers=AUTH, json={"source": "big"})
        assert busy.status_code == 409
        assert busy.headers["content-type"] == "application/problem+json"
        assert busy.json()["job_id"] == first["id"]
        assert f"/api/load/{first['id']}" in busy.json()["detail"]
        assert (await wait_for(client, first["id"]))["status"] == "succeeded"
        after = await post_load(client, json={"source": "big"})
        assert (await wait_for(client, after["id"]))["files_skipped"] == BIG_STATIONS


async def test_a_load_held_by_another_process_is_409(db_url: str, root: Path) -> None:
    other = create_engine(db_url, settings_for(db_url), pool_size=1)
    loader = Loader(other, SourceLimits(10**6, 10**6))
    try:
        claim = await loader.claim(source="elsewhere", trigger="cli")
        async with serve(db_url, data_root=root) as client:
            busy = await client.post("/api/load", headers=AUTH, json={"source": "sample"})
            assert busy.status_code == 409
            assert busy.json()["job_id"] == claim.run_id
            await loader.load(claim, [])
            job = await load_ok(client, json={"source": "sample"})
            assert job["id"] == claim.run_id + 1
    finally:
        await other.dispose()


# --- hostile sources --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source", ["../outside", "sample/../../outside", "/etc", "sample/../sample", "/"]
)
async def test_path_outside_the_root_or_with_dotdot_is_400(
    api: AsyncClient, root: Path, source: str
) -> None:
    (root.parent / "outside").mkdir()
    response = await api.post("/api/load", headers=AUTH, json={"source": source})
    assert response.status_code == 400, response.text
    assert str(root) in response.json()["detail"]
    assert await scalar_jobs(api) == 0


async def test_symlink_out_of_the_root_is_refused(
    api: AsyncClient, root: Path, tmp_path: Path
) -> None:
    outside = write_sample(tmp_path / "outside")
    (root / "link").symlink_to(outside, target_is_directory=True)
    response = await api.post("/api/load", headers=AUTH, json={"source": "link"})
    assert response.status_code == 400
    assert str(root) in response.json()["detail"]
    # A link inside a directory that is itself inside the root: refused when scanned.
    (root / "mixed" / "wx_data").mkdir(parents=True)
    secret = outside / "wx_data" / f"{STATIONS[0]}.txt"
    (root / "mixed" / "wx_data" / f"{STATIONS[0]}.txt").symlink_to(secret)
    job = await wait_for(api, (await post_load(api, json={"source": "mixed"}))["id"])
    assert job["status"] == "failed"
    assert "not inside the data root" in job["message"]
    assert (await api.get("/api/weather")).json()["total"] == 0


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("http://example.com/data.zip", "WEATHER_ALLOWED_SOURCE_HOSTS"),
        ("https://127.0.0.2/data.zip", "is not allowed"),
        ("ftp://127.0.0.1/data.zip", "only http and https"),
        ("file:///etc/passwd", "only http and https"),
        ("http://127.0.0.1:99999/data.zip", "invalid port"),
    ],
)
async def test_disallowed_url_is_400(api: AsyncClient, source: str, expected: str) -> None:
    response = await api.post("/api/load", headers=AUTH, json={"source": source})
    assert response.status_code == 400
    assert expected in response.json()["detail"]
    assert await scalar_jobs(api) == 0


async def test_private_address_is_refused_unless_allowed(db_url: str, root: Path) -> None:
    async with serve(db_url, data_root=root, allow_private_source_hosts=False) as client:
        response = await client.post(
            "/api/load", headers=AUTH, json={"source": "http://127.0.0.1:1/data.zip"}
        )
    assert response.status_code == 400
    assert "non-public address 127.0.0.1" in response.json()["detail"]


async def test_redirect_to_a_disallowed_host_fails_the_job(
    api: AsyncClient, root: Path, http_server: tuple[str, Path]
) -> None:
    base, www = http_server
    pack_archive(root / "sample", www / "data.tar.gz")
    port = base.rsplit(":", 1)[1]
    target = f"http://localhost:{port}/data.tar.gz"  # the same server, by a name not allowed
    job = await wait_for(
        api, (await post_load(api, json={"source": f"{base}/redirect/{target}"}))["id"]
    )
    assert job["status"] == "failed"
    assert "host 'localhost' is not allowed" in job["message"]
    assert job["files_total"] == 0
    # The redirect itself is followed when it stays on an allowed host.
    same = f"{base}/redirect/{base}/data.tar.gz"
    assert (await load_ok(api, json={"source": same}))["files_loaded"] == 4


async def test_oversize_download_fails_the_job(
    db_url: str, root: Path, http_server: tuple[str, Path]
) -> None:
    base, www = http_server
    (www / "USC00110072.txt").write_bytes(b"19850101\t 10\t 0\t 0\n" * 1000)
    async with serve(db_url, data_root=root, max_download_bytes=5000) as client:
        job = await wait_for(
            client, (await post_load(client, json={"source": f"{base}/USC00110072.txt"}))["id"]
        )
    assert job["status"] == "failed"
    assert "download exceeds the size limit" in job["message"]


async def test_oversize_upload_is_413_and_leaves_nothing(
    db_url: str, root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    body = b"19850101\t 10\t 0\t 0\n" * 2000
    async with serve(db_url, data_root=root, max_upload_bytes=20_000) as client:
        declared = await client.post(
            "/api/load", headers=AUTH, files={"files": ("USC00110072.txt", body)}
        )
        assert declared.status_code == 413
        assert "WEATHER_MAX_UPLOAD_BYTES" in declared.json()["detail"]

        # No Content-Length: the body is counted as it streams in.
        boundary = "wxboundary"
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; '
            f'filename="USC00110072.txt"\r\n\r\n'
        ).encode()

        async def chunks() -> AsyncIterator[bytes]:
            yield head
            for _ in range(40):
                yield body[:1000]
            yield f"\r\n--{boundary}--\r\n".encode()

        streamed = await client.post(
            "/api/load",
            headers=AUTH | {"Content-Type": f"multipart/form-data; boundary={boundary}"},
            content=chunks(),
        )
        assert streamed.status_code == 413
        assert await scalar_jobs(client) == 0
    assert list(spool.iterdir()) == []


def _archive(path: Path, names: list[str]) -> Path:
    content = b"19850101\t 10\t 0\t 0\n"
    if path.suffix == ".zip":
        with zipfile.ZipFile(path, "w") as zf:
            for name in names:
                zf.writestr(name, content)
    else:
        with tarfile.open(path, "w:gz") as tf:
            for name in names:
                info = tarfile.TarInfo(name)
                info.size = len(content)
                tf.addfile(info, io.BytesIO(content))
    return path


@pytest.mark.parametrize("suffix", [".zip", ".tar.gz"])
@pytest.mark.parametrize("entry", ["../USC00110072.txt", "/tmp/USC00110072.txt"])
async def test_archive_entry_escaping_is_refused(
    api: AsyncClient, tmp_path: Path, suffix: str, entry: str
) -> None:
    archive = _archive(tmp_path / f"evil{suffix}", ["wx_data/USC00257715.txt", entry])
    job = await wait_for(
        api, (await post_load(api, files={"files": (archive.name, archive.read_bytes())}))["id"]
    )
    assert job["status"] == "failed"
    assert f"evil{suffix}: entry {entry!r} has an absolute path or '..'" in job["message"]
    assert job["files_loaded"] == 0


def _zip_bomb(path: Path, size: int) -> Path:
    zeros = bytes(CHUNK)
    with (
        zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf,
        zf.open("wx_data/USC00110072.txt", "w", force_zip64=True) as entry,
    ):
        for _ in range(size // CHUNK):
            entry.write(zeros)
    return path


async def test_zip_bomb_is_stopped_at_the_cap(db_url: str, root: Path, tmp_path: Path) -> None:
    bomb = _zip_bomb(tmp_path / "bomb.zip", 64 * 1024**2)
    assert bomb.stat().st_size < 200_000
    cap = 1024**2
    # Extraction writes no more than the cap (plus the chunk that crossed it).
    dest = tmp_path / "out"
    dest.mkdir()
    with pytest.raises(SourceError, match="uncompressed size exceeds the limit"):
        extract(bomb, dest, cap, "bomb.zip")
    written = sum(p.stat().st_size for p in dest.rglob("*") if p.is_file())
    assert written <= cap + CHUNK
    # Through the API, the job fails with the same reason.
    async with serve(db_url, data_root=root, max_extracted_bytes=cap) as client:
        files = {"files": ("bomb.zip", bomb.read_bytes())}
        job = await wait_for(client, (await post_load(client, files=files))["id"])
    assert job["status"] == "failed"
    assert "uncompressed size exceeds the limit" in job["message"]


def test_archive_of_countless_empty_files_is_stopped(tmp_path: Path) -> None:
    cap = 1024**2
    archive = tmp_path / "many.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for i in range(10_000):
            zf.writestr(f"empty/{i}.txt", b"")
    dest = tmp_path / "out"
    dest.mkdir()
    with pytest.raises(SourceError, match="uncompressed size exceeds the limit"):
        extract(archive, dest, cap, "many.zip")
    assert len(list(dest.rglob("*.txt"))) <= cap // 4096 + 1


# --- faults -----------------------------------------------------------------------------------


async def test_reads_are_answered_during_a_load(db_url: str, big_root: tuple[Path, int]) -> None:
    root, _ = big_root
    async with serve(db_url, data_root=root) as client:
        job = await post_load(client, json={"source": "big"})
        during, slowest = 0, 0.0
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            before = (await client.get(f"/api/load/{job['id']}", headers=AUTH)).json()
            started = time.perf_counter()
            read = await client.get("/api/weather", params={"page_size": 10})
            elapsed = time.perf_counter() - started
            after = (await client.get(f"/api/load/{job['id']}", headers=AUTH)).json()
            assert read.status_code == 200
            if before["status"] == after["status"] == "running":
                during += 1
                slowest = max(slowest, elapsed)
            if after["status"] in FINISHED:
                break
        assert after["status"] == "succeeded"
    assert during >= 5, during
    # Parsing runs in a worker process and each file's database work is short, so a read
    # waits for no file; two seconds allow for a busy machine, a blocked loop takes longer.
    assert slowest < 2.0, slowest


async def test_loads_have_their_own_statement_timeout(
    db_url: str, big_root: tuple[Path, int]
) -> None:
    # A batch's COPY (up to 200,000 rows) takes far longer than 50 ms: the API's limit
    # would cut it, the load's own does not.
    root, lines = big_root
    async with serve(db_url, data_root=root, statement_timeout_ms=50) as client:
        job = await load_ok(client, json={"source": "big"})
    assert job["inserted"] == BIG_STATIONS * lines


async def test_a_load_past_its_statement_timeout_fails_whole_and_says_so(
    db_url: str, big_root: tuple[Path, int]
) -> None:
    root, lines = big_root
    async with serve(db_url, data_root=root, load_statement_timeout_ms=50) as client:
        posted = await post_load(client, json={"source": "big"})
        job = await wait_for(client, posted["id"])
    assert job["status"] == "failed"
    assert job["message"].startswith(
        "database error 57014: canceling statement due to statement timeout"
    )
    assert_whole_files(await station_counts(db_url), lines)


async def test_shutdown_marks_a_running_load_interrupted(
    db_url: str, big_root: tuple[Path, int]
) -> None:
    root, lines = big_root
    async with serve(db_url, data_root=root) as client:
        job = await post_load(client, json={"source": "big"})
        await _wait_for_progress(db_url, 1)
    # The lifespan has ended: the load was cancelled and waited for.
    assert await scalar(db_url, f"SELECT status FROM load_runs WHERE id = {job['id']}") in (
        "interrupted",
        "succeeded",
    )
    assert await scalar(db_url, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'") == 0
    assert_whole_files(await station_counts(db_url), lines)


async def _wait_for_progress(url: str, files: int) -> int:
    """The id of the run once it has stored ``files`` files (polling the database)."""
    engine = create_engine(url, settings_for(url), pool_size=1)
    try:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            async with engine.connect() as conn:
                row = (
                    await conn.execute(text("SELECT id, files_done, status FROM load_runs"))
                ).first()
            if row is not None and row.files_done >= files:
                assert row.status == "running", row
                return int(row.id)
            await asyncio.sleep(0.02)
        raise AssertionError(f"no run reached {files} files in {WAIT_S} s")
    finally:
        await engine.dispose()


async def _wait_for_unlock(url: str) -> None:
    deadline = time.monotonic() + WAIT_S
    sql = f"SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = {LOAD_LOCK_KEY}"
    while await scalar(url, sql):
        assert time.monotonic() < deadline, "the load lock was never released"
        await asyncio.sleep(0.05)


async def test_killed_loader_leaves_whole_files_and_an_interrupted_job(
    db_url: str, big_root: tuple[Path, int], tmp_path: Path
) -> None:
    root, lines = big_root
    env = cli_env(WEATHER_DATABASE_URL=db_url, WEATHER_LOG_FORMAT="text")
    process = await asyncio.create_subprocess_exec(
        CLI,
        "load",
        "--json",
        str(root / "big"),
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own group: the kill reaches its parsing worker too
    )
    try:
        run_id = await _wait_for_progress(db_url, 3)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        await asyncio.wait_for(process.wait(), 30)
    assert process.returncode == -signal.SIGKILL
    await _wait_for_unlock(db_url)

    counts = await station_counts(db_url)
    assert_whole_files(counts, lines)
    assert 3 <= len(counts) < BIG_STATIONS
    # Stats and checksums commit with their rows: exactly the stations that are in.
    stats = await scalar(db_url, "SELECT count(DISTINCT station_id) FROM yearly_stats")
    assert stats == len(counts)
    assert await scalar(db_url, "SELECT count(*) FROM source_files") == len(counts)
    # So does the run's progress.
    done = await scalar(db_url, f"SELECT files_done FROM load_runs WHERE id = {run_id}")
    assert done == len(counts)

    # Start-up recovery: nobody holds the lock, so the run is marked interrupted.
    async with serve(db_url, data_root=root) as client:
        job = (await client.get(f"/api/load/{run_id}", headers=AUTH)).json()
        assert job["status"] == "interrupted"
        assert job["finished_at"] is not None
        # Loading again completes the rest; the stations already in are skipped unread.
        again = await load_ok(client, json={"source": "big"})
    assert again["files_skipped"] == len(counts)
    assert_whole_files(await station_counts(db_url), lines)
    assert len(await station_counts(db_url)) == BIG_STATIONS


async def test_sigterm_during_a_load_marks_the_job_and_exits(
    db_url: str, big_root: tuple[Path, int], tmp_path: Path
) -> None:
    root, lines = big_root
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    env = cli_env(
        WEATHER_DATABASE_URL=db_url,
        WEATHER_ADMIN_TOKEN=TOKEN,
        WEATHER_DATA_ROOT=str(root),
        WEATHER_LOG_FORMAT="text",
        WEATHER_LOG_LEVEL="DEBUG",
    )
    with log.open("w") as stderr:
        process = await asyncio.create_subprocess_exec(
            CLI,
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            deadline = time.monotonic() + WAIT_S
            while True:
                assert process.returncode is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                try:
                    if (await client.get("/health")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            job = await post_load(client, json={"source": "big"})
            await _wait_for_progress(db_url, 1)
            process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.wait(), 60)
    finally:
        if process.returncode is None:
            process.kill()
            await asyncio.wait_for(process.wait(), 10)
    assert process.returncode == 128 + signal.SIGTERM, log.read_text()
    status = await scalar(db_url, f"SELECT status FROM load_runs WHERE id = {job['id']}")
    assert status in ("interrupted", "succeeded"), log.read_text()
    assert_whole_files(await station_counts(db_url), lines)
    server_log = log.read_text()
    assert "POST /api/load" in server_log  # the log was written
    assert TOKEN not in server_log
