"""POST and GET /api/load against a real database: every source kind, paging of jobs,
malformed requests, one load at a time."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from httpx import AsyncClient

from tests.conftest import settings_for
from tests.loads_support import (
    AUTH,
    BIG_STATIONS,
    load_ok,
    post_load,
    scalar_jobs,
    serve,
    wait_for,
)
from tests.sample import STATIONS, pack_archive, read_days
from weather_api.db.engine import create_engine
from weather_api.ingest.loader import Loader
from weather_api.ingest.sources import SourceLimits

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
