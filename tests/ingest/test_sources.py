"""Hostile load sources: paths out of the root, disallowed or private URLs, oversize
downloads and uploads, escaping archive entries, zip bombs."""

from __future__ import annotations

import io
import tarfile
import tempfile
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from httpx import AsyncClient

from tests.loads_support import AUTH, load_ok, post_load, scalar_jobs, serve, wait_for
from tests.sample import STATIONS, pack_archive, write_sample
from weather_api.ingest.sources import CHUNK, Budget, SourceError, extract

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
        extract(bomb, dest, Budget(cap), "bomb.zip")
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
        extract(archive, dest, Budget(cap), "many.zip")
    assert len(list(dest.rglob("*.txt"))) <= cap // 4096 + 1
