"""Turn a load SOURCE (directory, file, .zip/.tar.gz archive or http(s) URL) into data files.

Archives and downloads land in a temporary directory that is removed when the
context closes. Sizes are capped while bytes flow, so a zip bomb or an endless
download stops at the cap instead of filling the disk.
"""

from __future__ import annotations

import asyncio
import ipaddress
import shutil
import socket
import tarfile
import tempfile
import zipfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING
from urllib.parse import urljoin, urlsplit, urlunsplit

from weather_api.ingest.parsing import GHCND_FILE, STATION_ID_RE
from weather_api.settings import Settings

if TYPE_CHECKING:
    import httpx

CHUNK = 1 << 16
# NOAA's metadata of the dataset's stations, shipped with the package (provenance in the
# README beside it) so that the first load of a fresh install has coordinates.
PACKAGED_STATION_LIST = Path(__file__).parent / "data" / GHCND_FILE
_FILE_COST = 4096


class SourceError(ValueError):
    """A source that cannot be read at all (as opposed to one bad file inside it)."""


@dataclass(frozen=True)
class DataFile:
    path: Path
    name: str  # as shown in logs and errors: relative to the source
    kind: str  # "station", "yield" or "ghcnd" (NOAA's station list)


@dataclass(frozen=True)
class SourceLimits:
    max_download_bytes: int
    max_extracted_bytes: int
    # None: any host (the operator's own CLI); otherwise only these hosts, public addresses only
    # unless allow_private is set.
    allowed_hosts: list[str] | None = None
    allow_private: bool = False
    # None: any path (the CLI); otherwise path sources, and every file found in a directory
    # source, must resolve inside it, symlinks followed.
    root: Path | None = None

    @classmethod
    def from_settings(cls, settings: Settings, *, restricted: bool) -> SourceLimits:
        """The API's loads are restricted to the allowed hosts, the CLI's are not."""
        return cls(
            max_download_bytes=settings.max_download_bytes,
            max_extracted_bytes=settings.max_extracted_bytes,
            allowed_hosts=settings.allowed_source_hosts if restricted else None,
            allow_private=settings.allow_private_source_hosts,
        )


@dataclass
class ResolvedSources:
    files: list[DataFile] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


def default_sources(data_source: str) -> list[str]:
    """What a load given no source loads: the configured data source and the packaged
    station list, which re-runs skip by its checksum like any unchanged file."""
    return [data_source, str(PACKAGED_STATION_LIST)]


def classify(path: PurePosixPath | Path) -> str | None:
    """``station``, ``yield``, ``ghcnd`` or None (not a data file) for a path inside a
    source."""
    if path.name == GHCND_FILE:
        return "ghcnd"
    if path.suffix != ".txt":
        return None
    if "yld_data" in path.parts[:-1] or "yield" in path.name.lower():
        return "yield"
    if "wx_data" in path.parts[:-1] or STATION_ID_RE.fullmatch(path.stem):
        return "station"
    return None


def inside(source: str | Path, root: Path) -> Path:
    """``source``, absolute or relative to ``root``, resolved; it must stay inside ``root``."""
    root = root.resolve()
    if ".." in Path(source).parts:
        raise SourceError(f"{source}: '..' is not allowed; give a path inside {root}")
    try:
        path = (root / source).resolve()
    except (OSError, ValueError) as exc:  # a NUL byte, a symlink loop
        raise SourceError(f"{source}: not a usable path ({exc})") from None
    if not path.is_relative_to(root):
        raise SourceError(f"{source}: not inside the data root {root} (WEATHER_DATA_ROOT)")
    return path


def _scan(root: Path, label: str, found: ResolvedSources, within: Path | None = None) -> None:
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if within is not None:
            inside(path, within)  # a symlinked file pointing out of the root
        relative = PurePosixPath(path.relative_to(root).as_posix())
        kind = classify(relative)
        name = f"{label}/{relative}" if label else str(relative)
        if kind is None:
            found.ignored.append(name)
        else:
            found.files.append(DataFile(path, name, kind))


def _is_archive(name: str) -> bool:
    return name.endswith((".zip", ".tar.gz", ".tgz"))


def _spend(budget: list[int], size: int, what: str) -> None:
    budget[0] -= size
    if budget[0] < 0:
        raise SourceError(f"{what}: uncompressed size exceeds the limit")


def _copy_capped(src: IO[bytes], dst: IO[bytes], budget: list[int], what: str) -> None:
    # Every file costs at least a disk block: countless empty entries also reach the cap.
    _spend(budget, _FILE_COST, what)
    while chunk := src.read(CHUNK):
        _spend(budget, len(chunk), what)
        dst.write(chunk)


def _safe_member(archive: str, name: str) -> PurePosixPath:
    member = PurePosixPath(name)
    if member.is_absolute() or ".." in member.parts or name.startswith(("/", "\\")):
        raise SourceError(f"{archive}: entry {name!r} has an absolute path or '..'")
    return member


def extract(archive: Path, dest: Path, max_bytes: int, label: str) -> None:
    """Extract regular files only, refusing unsafe names and stopping at ``max_bytes``."""
    budget = [max_bytes]
    if archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                member = _safe_member(label, info.filename)
                if info.is_dir():
                    continue
                target = dest / member
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, target.open("wb") as dst:
                    _copy_capped(src, dst, budget, label)
        return
    with tarfile.open(archive, "r:gz") as tf:
        for tinfo in tf:
            member = _safe_member(label, tinfo.name)
            if not tinfo.isfile():
                continue  # links and devices are never data
            target = dest / member
            target.parent.mkdir(parents=True, exist_ok=True)
            stream = tf.extractfile(tinfo)
            assert stream is not None  # regular files always have content
            with stream, target.open("wb") as dst:
                _copy_capped(stream, dst, budget, label)


def redacted(source: str) -> str:
    """A source as it may be shown, logged and stored with its run: a URL's credentials
    and query (a token, a signature) become ***."""
    parts = urlsplit(source)
    if parts.scheme not in ("http", "https"):
        return source
    _, at, host = parts.netloc.rpartition("@")
    return urlunsplit(
        parts._replace(netloc=f"***@{host}" if at else host, query="***" if parts.query else "")
    )


async def check_url(url: str, limits: SourceLimits) -> None:
    """Refuse a URL the limits do not allow, before anything is downloaded."""
    parts, shown = urlsplit(url), redacted(url)
    try:
        port = parts.port
    except ValueError:
        raise SourceError(f"{shown}: invalid port") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SourceError(f"{shown}: only http and https URLs can be loaded")
    if limits.allowed_hosts is None:
        return
    host = parts.hostname
    if host not in limits.allowed_hosts:
        allowed = ", ".join(limits.allowed_hosts) or "none"
        raise SourceError(
            f"{shown}: host {host!r} is not allowed (WEATHER_ALLOWED_SOURCE_HOSTS: {allowed})"
        )
    if limits.allow_private:
        return
    loop = asyncio.get_running_loop()
    try:
        addresses = await loop.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except OSError:
        raise SourceError(f"{shown}: cannot resolve host {host!r}") from None
    for *_, sockaddr in addresses:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])  # no IPv6 zone
        if not address.is_global:
            raise SourceError(f"{shown}: host {host!r} resolves to a non-public address {address}")


async def download(url: str, dest: Path, limits: SourceLimits) -> Path:
    """Stream ``url`` into ``dest``; redirects are followed only to allowed hosts."""
    import httpx  # here: importing it costs every other load a tenth of a second

    try:
        async with httpx.AsyncClient(timeout=httpx.Timeout(30.0), follow_redirects=False) as client:
            return await _download(client, url, dest, limits)
    except httpx.HTTPError as exc:
        raise SourceError(f"{redacted(url)}: cannot download: {exc or type(exc).__name__}") from exc


async def _download(client: httpx.AsyncClient, url: str, dest: Path, limits: SourceLimits) -> Path:
    for _ in range(5):
        await check_url(url, limits)
        async with client.stream("GET", url) as response:
            if response.is_redirect:
                url = urljoin(url, response.headers["location"])
                continue
            if response.status_code != 200:
                raise SourceError(f"{redacted(url)}: HTTP {response.status_code}")
            name = PurePosixPath(urlsplit(str(response.url)).path).name or "download"
            target = dest / name
            size = 0
            with target.open("wb") as out:
                async for chunk in response.aiter_bytes(CHUNK):
                    size += len(chunk)
                    if size > limits.max_download_bytes:
                        raise SourceError(f"{redacted(url)}: download exceeds the size limit")
                    out.write(chunk)
            return target
    raise SourceError(f"{redacted(url)}: too many redirects")


def _add_path(
    path: Path, label: str, work: Path, limits: SourceLimits, found: ResolvedSources
) -> None:
    """Blocking (disk) work: the caller runs it in a thread."""
    if path.is_dir():
        _scan(path, "", found, limits.root)
    elif _is_archive(path.name):
        target = Path(tempfile.mkdtemp(dir=work))
        extract(path, target, limits.max_extracted_bytes, label)
        _scan(target, label, found)
    elif path.is_file():
        # A single file names its own kind; anything else is read as a station file and
        # rejected by name if it is not one.
        kind = classify(PurePosixPath(path.name)) or "station"
        found.files.append(DataFile(path, path.name, kind))
    else:
        raise SourceError(f"{label}: no such file or directory")


@asynccontextmanager
async def resolve(sources: list[str], limits: SourceLimits) -> AsyncIterator[ResolvedSources]:
    """Yield the data files of all sources; temporary files live until the context exits."""
    work = Path(tempfile.mkdtemp(prefix="weather-load-"))
    try:
        found = ResolvedSources()
        for source in sources:
            if source.startswith(("http://", "https://")):
                path = await download(source, work, limits)
            elif limits.root is not None:
                path = inside(source, limits.root)
            else:
                path = Path(source)
            await asyncio.to_thread(_add_path, path, redacted(source), work, limits, found)
        yield found
    finally:
        shutil.rmtree(work, ignore_errors=True)
