"""Archive, upload and download caps that hold: each test is an attack on POST /api/load (or
the loader it runs), and checks the bound that stops it. Memory is the peak RSS growth of
this process (the loads run in it), read from /proc after resetting the high-water mark."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import socket
import tarfile
import threading
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import SHARED_DATA
from tests.loads_support import AUTH, post_load, serve, wait_for
from tests.reliability.support import record
from tests.sample import STATIONS, YIELDS, pack_archive, write_sample
from weather_api.ingest.loader import MAX_ERRORS, Loader
from weather_api.ingest.parsing import DataFileError, prepare
from weather_api.ingest.sources import (
    DEFAULT_MANIFEST,
    TRUNCATED,
    Budget,
    SourceError,
    SourceLimits,
    check_url,
    extract,
    resolve,
)

MIB = 1024**2
CAP = MIB  # the extraction cap of these tests
FINISH_S = 10  # every refused load here ends well within this


@contextmanager
def peak_rss_growth() -> Iterator[list[float]]:
    """Yields a list that gets, after the block, the growth of this process's peak RSS over
    the block, in MiB."""

    def kib(field: str) -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
        raise AssertionError(f"no {field} in /proc/self/status")

    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
    before = kib("VmRSS")
    growth: list[float] = []
    yield growth
    growth.append((kib("VmHWM") - before) / 1024)


async def finished(client: Any, job_id: int) -> dict[str, Any]:
    """The job once it ended, which must be within FINISH_S."""
    started = time.monotonic()
    job = await wait_for(client, job_id)
    assert time.monotonic() - started < FINISH_S, job
    return job


async def upload(client: Any, *files: tuple[str, bytes]) -> dict[str, Any]:
    job = await post_load(client, files=[("files", f) for f in files])
    return await finished(client, job["id"])


# --- archives ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "name"), [(zipfile.ZIP_BZIP2, "bzip2"), (zipfile.ZIP_LZMA, "lzma")]
)
async def test_bzip2_and_lzma_members_are_refused_in_bounded_memory(
    db_url: str, tmp_path: Path, method: int, name: str
) -> None:
    # 256 MiB of zeros; zipfile inflates bzip2 and LZMA without bounding one read's output.
    archive = tmp_path / "bomb.zip"
    with (
        zipfile.ZipFile(archive, "w", compression=method) as zf,
        zf.open("wx_data/USC00110072.txt", "w", force_zip64=True) as entry,
    ):
        for _ in range(256):
            entry.write(bytes(MIB))
    assert archive.stat().st_size < 64 * 1024
    async with serve(db_url, max_extracted_bytes=CAP) as client:
        with peak_rss_growth() as growth:
            job = await upload(client, ("bomb.zip", archive.read_bytes()))
    record(
        f"archive caps: {name} zip member of 256 MiB",
        archive_bytes=archive.stat().st_size,
        status=job["status"],
        peak_rss_growth_mib=round(growth[0], 1),
    )
    assert job["status"] == "failed"
    assert "only stored and deflated entries are accepted" in job["message"], job["message"]
    assert growth[0] < 32, f"peak RSS grew by {growth[0]:.0f} MiB"


def _long_name_tar_gz(name_bytes: int) -> bytes:
    """A .tar.gz whose one member has a GNU long name of ``name_bytes`` bytes."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.GNU_FORMAT) as tf:
        info = tarfile.TarInfo("wx_data/" + "n" * name_bytes + ".txt")
        info.size = 3
        tf.addfile(info, io.BytesIO(b"x\n\n"))
    return buf.getvalue()


async def test_a_huge_tar_long_name_is_refused_unread_and_never_stored(db_url: str) -> None:
    archive = _long_name_tar_gz(8 * MIB)
    assert len(archive) < 64 * 1024
    async with serve(db_url, max_extracted_bytes=CAP) as client:
        with peak_rss_growth() as growth:
            job = await upload(client, ("names.tar.gz", archive))
        one = await client.get(f"/api/load/{job['id']}", headers=AUTH)
        page = await client.get("/api/load", headers=AUTH)
    record(
        "archive caps: tar.gz with an 8 MiB GNU long name",
        archive_bytes=len(archive),
        status=job["status"],
        peak_rss_growth_mib=round(growth[0], 1),
        job_body_bytes=len(one.content),
        list_body_bytes=len(page.content),
    )
    assert job["status"] == "failed"
    assert f"a tar header of {8 * MIB + 13} bytes" in job["message"], job["message"][:300]
    assert len(one.content) < 4096
    assert len(page.content) < 8192
    assert growth[0] < 8, f"peak RSS grew by {growth[0]:.1f} MiB"


def _symlinks_tar_gz(count: int) -> bytes:
    """A .tar.gz of ``count`` symlink members, written directly (tarfile takes seconds)."""
    template = bytearray(tarfile.TarInfo("x").tobuf(tarfile.USTAR_FORMAT))
    template[156:157] = tarfile.SYMTYPE
    template[157:158] = b"x"
    blocks = []
    for i in range(count):
        header = bytearray(template)
        header[0:100] = f"links/{i}".encode().ljust(100, b"\0")
        header[148:156] = b" " * 8
        header[148:156] = b"%06o\0 " % sum(header)
        blocks.append(bytes(header))
    return gzip.compress(b"".join(blocks) + bytes(1024), compresslevel=1)


async def test_countless_symlink_members_stop_at_the_member_cap(db_url: str) -> None:
    archive = _symlinks_tar_gz(200_000)
    assert len(archive) < 2 * MIB
    async with serve(db_url) as client:
        with peak_rss_growth() as growth:
            started = time.monotonic()
            job = await upload(client, ("links.tar.gz", archive))
            elapsed = time.monotonic() - started
        # A few links and nothing else: nothing to load is a failure, not a success.
        few = await upload(client, ("few.tar.gz", _symlinks_tar_gz(3)))
    record(
        "archive caps: tar.gz of 200,000 symlinks",
        archive_bytes=len(archive),
        status=job["status"],
        seconds=round(elapsed, 2),
        peak_rss_growth_mib=round(growth[0], 1),
    )
    assert job["status"] == "failed"
    assert "more than 10000 archive members in one load" in job["message"], job["message"]
    assert growth[0] < 32, f"peak RSS grew by {growth[0]:.1f} MiB"
    assert few["status"] == "failed"
    assert few["message"].startswith("nothing to load: no station or yield file"), few
    assert few["files_total"] == 0


def _station_zip(path: Path, size: int) -> Path:
    """A zip of one station file of ``size`` bytes (valid lines, unique dates unneeded)."""
    line = b"19850101\t   10\t    0\t    0\n"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"wx_data/{STATIONS[0]}.txt", line * (size // len(line)))
    return path


async def test_one_extraction_budget_covers_every_archive_of_a_load(
    db_url: str, tmp_path: Path
) -> None:
    archives = [_station_zip(tmp_path / f"part{i}.zip", int(0.8 * MIB)) for i in range(3)]
    # Each archive alone is within the cap.
    for archive in archives:
        dest = tmp_path / archive.stem
        dest.mkdir()
        extract(archive, dest, Budget(CAP), archive.name)
    async with serve(db_url, max_extracted_bytes=CAP) as client:
        job = await upload(client, *[(a.name, a.read_bytes()) for a in archives])
    assert job["status"] == "failed"
    assert (
        "part1.zip: uncompressed size exceeds the limit of 1048576 bytes for one load"
        in (job["message"])
    )


async def test_names_in_messages_are_truncated_with_a_marker(db_url: str, tmp_path: Path) -> None:
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../" + "a" * 60_000, b"x")
    async with serve(db_url) as client:
        job = await upload(client, ("evil.zip", archive.read_bytes()))
    assert job["status"] == "failed"
    assert f"entry '../{'a' * 509}{TRUNCATED}' has an absolute path" in job["message"]
    assert len(job["message"]) < 1000


# --- files in the data root -------------------------------------------------------------------


async def test_a_fifo_named_like_an_archive_does_not_block_the_load(
    db_url: str, tmp_path: Path
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    fifo = root / "x.zip"
    os.mkfifo(fifo)
    try:
        async with serve(db_url, data_root=root) as client:
            job = await finished(client, (await post_load(client, json={"source": "x.zip"}))["id"])
    finally:
        # Without the fix a thread would sit in open(); a writer lets it go.
        writer = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK) if _has_reader(fifo) else None
        if writer is not None:
            os.close(writer)
    assert job["status"] == "failed"
    assert job["message"] == "x.zip: cannot open the archive: not a regular file"


def _has_reader(fifo: Path) -> bool:
    try:
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    except OSError:
        return False  # ENXIO: nobody has it open for reading
    return True


async def test_a_file_swapped_after_the_scan_is_not_followed(tmp_path: Path) -> None:
    sample = write_sample(tmp_path / "root" / "sample")
    secret = tmp_path / "secret.txt"
    secret.write_text("19850101\t 1\t 1\t 1\n")
    limits = SourceLimits(MIB, MIB, root=tmp_path / "root")
    async with resolve(["sample"], limits) as found:
        first, second = [f for f in found.files if f.kind == "station"][:2]
        os.unlink(first.path)
        os.symlink(secret, first.path)
        os.unlink(second.path)
        os.mkfifo(second.path)
        started = time.monotonic()
        with pytest.raises(DataFileError, match="cannot read: a symbolic link, which is not"):
            prepare(first.path, first.name, first.kind, None)
        with pytest.raises(DataFileError, match="cannot read: not a regular file"):
            prepare(second.path, second.name, second.kind, None)
        assert time.monotonic() - started < 1
    assert (sample / "wx_data").is_dir()


# --- downloads --------------------------------------------------------------------------------


@contextmanager
def trickling_server(max_s: float) -> Iterator[str]:
    """A server on 127.0.0.1 that promises a megabyte and sends a byte every 0.1 s, for at
    most ``max_s`` seconds; its base URL."""

    class Trickle(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(MIB))
            self.end_headers()
            deadline = time.monotonic() + max_s
            try:
                while time.monotonic() < deadline:
                    self.wfile.write(b"1")
                    self.wfile.flush()
                    time.sleep(0.1)
            except OSError:
                pass  # the client gave up

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Trickle)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def test_a_trickling_download_stops_at_the_overall_deadline(db_url: str) -> None:
    with trickling_server(max_s=8) as base:
        async with serve(db_url, download_timeout_s=1.5) as client:
            started = time.monotonic()
            job = await finished(
                client, (await post_load(client, json={"source": f"{base}/x.zip"}))["id"]
            )
            elapsed = time.monotonic() - started
    record("archive caps: trickling download", status=job["status"], seconds=round(elapsed, 2))
    assert job["status"] == "failed"
    assert job["message"] == (
        f"{base}/x.zip: download did not finish within 1.5 s (WEATHER_DOWNLOAD_TIMEOUT_S)"
    )
    assert elapsed < 4, elapsed


async def test_a_url_is_a_url_whatever_the_case_of_its_scheme(
    db_url: str, tmp_path: Path, http_server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    base, www = http_server
    root = tmp_path / "root"
    sample = write_sample(root / "sample")
    pack_archive(sample, www / "data.tar.gz")
    upper = base.replace("http://", "HTTP://")
    # Read as a path, HTTP://host/../../sample would be ./sample of the working directory.
    monkeypatch.chdir(root)
    async with serve(db_url, data_root=root) as client:
        loaded = await finished(
            client, (await post_load(client, json={"source": f"{upper}/data.tar.gz"}))["id"]
        )
        escaped = await finished(
            client, (await post_load(client, json={"source": f"{upper}/../../sample"}))["id"]
        )
    assert loaded["status"] == "succeeded", loaded
    assert loaded["files_loaded"] == 4
    assert escaped["status"] == "failed"
    assert escaped["message"].endswith(": HTTP 404"), escaped["message"]


@pytest.mark.parametrize(
    "address",
    [
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "2002:a9fe:a9fe::",  # 6to4 of 169.254.169.254, the cloud metadata address
        "::a00:1",  # IPv4-compatible 10.0.0.1
        "::ffff:192.168.0.1",  # IPv4-mapped
        "64:ff9b:1::1",  # local-use NAT64
    ],
)
async def test_wrapped_private_addresses_are_refused(address: str) -> None:
    limits = SourceLimits(MIB, MIB, allowed_hosts=[address])
    with pytest.raises(SourceError, match="resolves to a non-public address"):
        await check_url(f"http://[{address}]/data.zip", limits)


async def test_wrapped_public_addresses_pass() -> None:
    address = "64:ff9b::808:808"  # NAT64 of 8.8.8.8
    limits = SourceLimits(MIB, MIB, allowed_hosts=[address])
    assert await check_url(f"http://[{address}]/data.zip", limits) == [address]


async def test_the_download_connects_to_the_address_that_was_checked(
    engine: AsyncEngine,
    tmp_path: Path,
    http_server: tuple[str, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base, www = http_server
    pack_archive(write_sample(tmp_path / "sample"), www / "data.tar.gz")
    port = base.rsplit(":", 1)[1]
    # A rebinding resolver: the first answer is the server, later ones an address where
    # nothing listens. (httpx asks with the name as IDNA bytes.)
    real = socket.getaddrinfo
    lookups: list[str] = []

    def rebinding(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name != "rebind.test":
            return real(host, *args, **kwargs)
        lookups.append(name)
        return real("127.0.0.1" if len(lookups) == 1 else "127.0.0.2", *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    limits = SourceLimits(MIB, MIB, allowed_hosts=["rebind.test"], allow_private=True)
    summary = await Loader(engine, limits).run(
        [f"http://rebind.test:{port}/data.tar.gz"], trigger="cli"
    )
    assert (summary.status, summary.files_loaded) == ("succeeded", 4), summary.message
    assert lookups == ["rebind.test"]


# --- what a load reads and stores -------------------------------------------------------------


async def test_only_the_corn_yield_file_is_read_as_yield(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    sample = write_sample(tmp_path / "data")
    (sample / "yld_data" / "US_soybean_yield.txt").write_text("1985\t999\n1990\t999\n")
    (sample / "notes_yield.txt").write_text("1985\t999\n")
    summary = await Loader(engine, SourceLimits(MIB, MIB)).run([str(sample)], trigger="cli")
    assert (summary.status, summary.files_loaded) == ("succeeded", 4), summary.errors
    async with engine.connect() as conn:
        rows = await conn.execute(text("SELECT year, corn_grain_yield_kt FROM corn_yields"))
        assert dict(rows.all()) == YIELDS


async def test_odd_member_names_are_escaped_and_bounded(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    names = [
        "wx_data/USC0011007\udcff.txt",  # a byte that is not UTF-8
        "wx_data/USC00110072\nERROR forged log line.txt",
        "wx_data/" + "d" * 200 + "/" + "e" * 200 + "/" + "f" * 200 + ".txt",
        f"wx_data/{STATIONS[0]}.txt",
    ]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.GNU_FORMAT) as tf:
        for name in names:
            info = tarfile.TarInfo(name)
            info.size = len(content := b"19850101\t 10\t 0\t 0\n")
            tf.addfile(info, io.BytesIO(content))
    async with serve(db_url) as client:
        job = await upload(client, ("odd.tar.gz", buf.getvalue()))
    assert job["status"] == "failed"
    assert (job["files_loaded"], job["files_failed"]) == (1, 3)
    files = sorted(e["file"] for e in job["errors"])
    assert files[0].endswith("wx_data/USC00110072\\nERROR forged log line.txt")
    assert files[1].endswith("wx_data/USC0011007\\xff.txt")
    assert files[2].endswith(TRUNCATED)
    assert len(files[2]) == 512 + len(TRUNCATED)
    # The forged line stays inside the log line that names the file.
    forged = [line for line in capsys.readouterr().err.splitlines() if "ERROR forged" in line]
    assert forged
    assert all("rejected odd.tar.gz/wx_data/USC00110072\\nERROR" in line for line in forged)


async def test_many_bad_files_keep_a_bounded_error_list(db_url: str, tmp_path: Path) -> None:
    count = 20_000
    root = tmp_path / "root"
    (root / "bad").mkdir(parents=True)
    for i in range(count):
        (root / "bad" / f"USC00{i:06d}.txt").write_bytes(b"bad\n")
    async with serve(db_url, data_root=root) as client:
        started = time.monotonic()
        job = await wait_for(client, (await post_load(client, json={"source": "bad"}))["id"])
        elapsed = time.monotonic() - started
    record(
        "archive caps: 20,000 bad files",
        status=job["status"],
        seconds=round(elapsed, 1),
        errors_kept=len(job["errors"]),
        errors_omitted=job["errors_omitted"],
    )
    assert job["status"] == "failed"
    assert job["files_failed"] == count
    assert len(job["errors"]) == MAX_ERRORS
    assert job["errors_omitted"] == count - MAX_ERRORS


# --- the pinned default source ----------------------------------------------------------------


async def test_a_digest_mismatch_fails_the_load_before_anything_is_stored(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    sample = write_sample(tmp_path / "data")
    manifest = tmp_path / "manifest.sha256"
    digests = {
        p.relative_to(sample).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sample.rglob("*.txt")
    }
    # Right digests for all but the second station, whose manifest entry is all zeros.
    wrong, zeros = f"wx_data/{STATIONS[1]}.txt", "0" * 64
    entries = digests | {wrong: zeros}
    manifest.write_text("".join(f"{d}  {n}\n" for n, d in sorted(entries.items())))
    limits = SourceLimits(MIB, MIB, manifests={str(sample): manifest})
    summary = await Loader(engine, limits).run([str(sample)], trigger="cli")
    assert summary.status == "failed"
    assert summary.message == (
        f"{sample}: {wrong} has SHA-256 {digests[wrong]}, but the manifest {manifest} "
        f"expects {zeros}"
    )
    async with engine.connect() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM observations")) == 0
    # With the right digests it loads.
    manifest.write_text("".join(f"{d}  {n}\n" for n, d in sorted(digests.items())))
    again = await Loader(engine, limits).run([str(sample)], trigger="cli")
    assert (again.status, again.files_loaded) == ("succeeded", 4), again.message


@pytest.mark.full_data
@pytest.mark.skipif(not (SHARED_DATA / "wx_data").is_dir(), reason=f"no dataset at {SHARED_DATA}")
async def test_the_shipped_manifest_matches_the_full_dataset() -> None:
    limits = SourceLimits(MIB, MIB, manifests={str(SHARED_DATA): DEFAULT_MANIFEST})
    async with resolve([str(SHARED_DATA)], limits) as found:
        assert len(found.files) == 168
