"""POST /api/load takes NOAA's station list like any data file: uploaded or in a source
under the data root; a bad one is rejected with its line and stores nothing."""

from __future__ import annotations

from pathlib import Path

from httpx import AsyncClient

from tests.ingest.test_ghcnd import ABROAD, ALEDO
from tests.loads_support import load_ok, post_load, wait_for
from tests.sample import STATIONS


async def test_an_uploaded_list_gives_stations_their_metadata(api: AsyncClient, root: Path) -> None:
    await load_ok(api, json={"source": "sample"})
    listing = f"{ALEDO}\n{ABROAD}\n".encode()
    job = await load_ok(api, files=[("files", ("ghcnd-stations.txt", listing, "text/plain"))])
    assert (job["files_loaded"], job["records_read"], job["updated"], job["inserted"]) == (
        1,
        2,
        1,
        1,
    )
    station = (await api.get(f"/api/stations/{STATIONS[0]}")).json()
    assert (station["name"], station["latitude"], station["elevation_m"]) == (
        "ALEDO",
        41.2069,
        223.7,
    )
    # Listed in the file but without observations: not a station of the list.
    assert (await api.get("/api/stations")).json()["total"] == 3


async def test_a_bad_list_in_a_directory_names_its_line(api: AsyncClient, root: Path) -> None:
    (root / "noaa").mkdir()
    (root / "noaa" / "ghcnd-stations.txt").write_text(f"{ALEDO}\n{ALEDO[:12]}oops\n")
    job = await wait_for(api, (await post_load(api, json={"source": "noaa"}))["id"])
    assert job["status"] == "failed"
    [error] = job["errors"]
    assert (error["file"], error["line"]) == ("ghcnd-stations.txt", 2)
    assert "latitude 'oops'" in error["message"]
