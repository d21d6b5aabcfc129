"""Turn a load SOURCE (directory, file, .zip/.tar.gz archive or http(s) URL) into data files.

Archives and downloads land in a temporary directory that is removed when the
context closes. Sizes are capped while bytes flow, so a zip bomb or an endless
download stops at the cap instead of filling the disk. One load has one extraction
budget, of bytes and of archive members, shared by all its archives; a download has an
overall deadline; files are opened without following a symlink or blocking on a FIFO.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import os
import re
import shutil
import socket
import tarfile
import tempfile
import zipfile
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path, PurePath, PurePosixPath
from typing import IO, TYPE_CHECKING, Self
from urllib.parse import urljoin, urlsplit, urlunsplit

from weather_api.ingest.parsing import GHCND_FILE, STATION_ID_RE, YIELD_FILE, open_regular
from weather_api.settings import DEFAULT_DATA_SOURCE, Settings

if TYPE_CHECKING:
    import httpx

CHUNK = 1 << 16
# NOAA's metadata of the dataset's stations, shipped with the package (provenance in the
# README beside it) so that the first load of a fresh install has coordinates.
PACKAGED_STATION_LIST = Path(__file__).parent / "data" / GHCND_FILE
_FILE_COST = 4096
# zipfile inflates bzip2 and LZMA members with no bound on the output of one read.
_ZIP_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
# tarfile reads a GNU long name or a pax header whole into memory; no real one is this big.
_MAX_HEADER = 64 * 1024
_EXTENDED_HEADERS = (
    tarfile.GNUTYPE_LONGNAME,
    tarfile.GNUTYPE_LONGLINK,
    tarfile.XHDTYPE,
    tarfile.XGLTYPE,
    tarfile.SOLARIS_XHDTYPE,
)
# What a load stores and returns about itself is bounded: names and messages are cut here.
MAX_NAME_CHARS = 512
MAX_MESSAGE_CHARS = 2000
TRUNCATED = "…[truncated]"
_URL_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
# NAT64 prefixes: the well-known one embeds an IPv4 address in its last 32 bits; the
# local-use one is private by definition.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_LOCAL_NAT64 = ipaddress.ip_network("64:ff9b:1::/48")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
DEFAULT_MANIFEST = Path(str(files("weather_api.ingest").joinpath("default_source.sha256")))


class SourceError(ValueError):
    """A source that cannot be read at all (as opposed to one bad file inside it)."""


@dataclass(frozen=True, slots=True)
class DataFile:
    # A string, not a Path: with Paths a load of 16,700 files peaked about 1 kB a file higher.
    path: str
    name: str  # as shown in logs and errors: relative to the source
    kind: str  # "station", "yield" or "ghcnd" (NOAA's station list)


@dataclass(frozen=True)
class SourceLimits:
    max_download_bytes: int
    max_extracted_bytes: int  # over all the archives of one load
    max_archive_members: int = 10_000  # over all the archives of one load
    download_timeout_s: float = 600.0  # overall, redirects included
    # None: any host (the operator's own CLI); otherwise only these hosts, public addresses only
    # unless allow_private is set.
    allowed_hosts: list[str] | None = None
    allow_private: bool = False
    # None: any path (the CLI); otherwise path sources, and every file found in a directory
    # source, must resolve inside it, symlinks followed.
    root: Path | None = None
    # Sources whose data files must match a SHA-256 manifest (``sha256sum`` format, paths
    # as wx_data/NAME and yld_data/NAME) before anything is stored.
    manifests: Mapping[str, Path] = field(
        default_factory=lambda: {DEFAULT_DATA_SOURCE: DEFAULT_MANIFEST}
    )

    @classmethod
    def from_settings(cls, settings: Settings, *, restricted: bool) -> SourceLimits:
        """The API's loads are restricted to the allowed hosts, the CLI's are not."""
        return cls(
            max_download_bytes=settings.max_download_bytes,
            max_extracted_bytes=settings.max_extracted_bytes,
            max_archive_members=settings.max_archive_members,
            download_timeout_s=settings.download_timeout_s,
            allowed_hosts=settings.allowed_source_hosts if restricted else None,
            allow_private=settings.allow_private_source_hosts,
        )


@dataclass
class ResolvedSources:
    files: list[DataFile] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


def printable(text: str) -> str:
    """``text`` safe to log and store: control characters (a newline would forge a log line)
    escaped, and bytes that were not UTF-8 (decoded as surrogates) shown as \\xNN."""
    if text.isprintable():
        return text
    return "".join(
        c
        if c.isprintable()
        else f"\\x{ord(c) - 0xDC00:02x}"
        if 0xDC80 <= ord(c) <= 0xDCFF
        else c.encode("unicode_escape", "backslashreplace").decode("ascii")
        for c in text
    )


def bounded(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``text`` cut to ``limit`` characters, with a marker if it was."""
    return text if len(text) <= limit else text[:limit] + TRUNCATED


def shown(name: str | PurePath) -> str:
    """A name (a path, an archive member) as it may appear in logs, messages and jobs."""
    return bounded(printable(str(name)), MAX_NAME_CHARS)


def is_url(source: str) -> bool:
    """Whether a source is a URL (``HTTPS://`` too): decided once, here, for every caller.
    Any scheme counts, so that ``ftp://`` is refused as a URL, not read as a path."""
    return _URL_RE.match(source) is not None


def default_sources(data_source: str) -> list[str]:
    """What a load given no source loads: the configured data source and the packaged
    station list, which re-runs skip by its checksum like any unchanged file."""
    return [data_source, str(PACKAGED_STATION_LIST)]


def classify(path: PurePosixPath | Path) -> str | None:
    """``station``, ``yield``, ``ghcnd`` or None (not a data file) for a path inside a
    source."""
    if path.name == GHCND_FILE:
        return "ghcnd"
    if path.name == YIELD_FILE:
        return "yield"
    if path.suffix == ".txt" and (
        "wx_data" in path.parts[:-1] or STATION_ID_RE.fullmatch(path.stem)
    ):
        return "station"
    return None


def inside(source: str | Path, root: Path) -> Path:
    """``source``, absolute or relative to ``root``, resolved; it must stay inside ``root``."""
    root = root.resolve()
    if ".." in Path(source).parts:
        raise SourceError(f"{shown(source)}: '..' is not allowed; give a path inside {root}")
    try:
        path = (root / source).resolve()
    except (OSError, ValueError) as exc:  # a NUL byte, a symlink loop
        raise SourceError(f"{shown(source)}: not a usable path ({exc})") from None
    if not path.is_relative_to(root):
        raise SourceError(f"{shown(source)}: not inside the data root {root} (WEATHER_DATA_ROOT)")
    return path


def _walk(root: Path) -> list[str]:
    """The files under ``root`` (links to files too, not the directories links lead to),
    as relative POSIX paths in the order of their parts: strings, not a Path each."""
    relatives = []
    for top, _, names in os.walk(root):
        below = PurePath(top).relative_to(root).as_posix()
        for name in names:
            if os.path.isfile(os.path.join(top, name)):
                relatives.append(name if below == "." else f"{below}/{name}")
    return sorted(relatives, key=lambda relative: relative.split("/"))


def _scan(root: Path, label: str, found: ResolvedSources, within: Path | None = None) -> None:
    for relative in _walk(root):
        path = root / relative
        # The file itself, not a link to it: it is opened later without following links.
        real = inside(path, within) if within is not None else path.resolve()
        kind = classify(PurePosixPath(relative))
        name = shown(f"{label}/{relative}" if label else relative)
        if kind is None:
            found.ignored.append(name)
        else:
            found.files.append(DataFile(str(real), name, kind))


def _is_archive(name: str) -> bool:
    return name.endswith((".zip", ".tar.gz", ".tgz"))


class Budget:
    """What one load may extract, over all its archives: bytes, and members of any kind
    (links, directories and headers too)."""

    def __init__(self, max_bytes: int, max_members: int = 10_000) -> None:
        self.max_bytes, self.max_members = max_bytes, max_members
        self.bytes, self.members = max_bytes, max_members

    @classmethod
    def of(cls, limits: SourceLimits) -> Self:
        return cls(limits.max_extracted_bytes, limits.max_archive_members)

    def spend(self, size: int, what: str) -> None:
        self.bytes -= size
        if self.bytes < 0:
            raise SourceError(
                f"{what}: uncompressed size exceeds the limit of {self.max_bytes} bytes "
                "for one load (WEATHER_MAX_EXTRACTED_BYTES)"
            )

    def member(self, what: str, name_chars: int) -> None:
        """Charge one archive member: a disk block (countless empty entries also reach the
        cap) and its name."""
        self.members -= 1
        if self.members < 0:
            raise SourceError(
                f"{what}: more than {self.max_members} archive members in one load "
                "(WEATHER_MAX_ARCHIVE_MEMBERS)"
            )
        self.spend(_FILE_COST + name_chars, what)


def _copy_capped(src: IO[bytes], dst: IO[bytes], budget: Budget, what: str) -> None:
    while chunk := src.read(CHUNK):
        budget.spend(len(chunk), what)
        dst.write(chunk)


def _safe_member(archive: str, name: str) -> PurePosixPath:
    member = PurePosixPath(name)
    if member.is_absolute() or ".." in member.parts or name.startswith(("/", "\\")):
        raise SourceError(f"{archive}: entry '{shown(name)}' has an absolute path or '..'")
    return member


class _OversizeHeaderError(SourceError):
    pass


class _BoundedTarInfo(tarfile.TarInfo):
    """Refuses an extended header (a GNU long name or link, a pax record) bigger than
    _MAX_HEADER before tarfile reads it into memory."""

    @classmethod
    def frombuf(cls, buf: bytes | bytearray, encoding: str, errors: str) -> Self:
        info = super().frombuf(buf, encoding, errors)
        if info.type in _EXTENDED_HEADERS and info.size > _MAX_HEADER:
            raise _OversizeHeaderError(
                f"a tar header of {info.size} bytes (a long name or pax record); "
                f"at most {_MAX_HEADER} are accepted"
            )
        return info


def _open_archive(archive: Path, label: str) -> IO[bytes]:
    try:
        return open_regular(archive)
    except OSError as exc:
        raise SourceError(f"{label}: cannot open the archive: {exc.strerror}") from None


def extract(archive: Path, dest: Path, budget: Budget, label: str) -> None:
    """Extract regular files only, refusing unsafe names and charging ``budget``."""
    with _open_archive(archive, label) as raw:
        if archive.name.endswith(".zip"):
            _extract_zip(raw, dest, budget, label)
        else:
            try:
                _extract_tar(raw, dest, budget, label)
            except _OversizeHeaderError as exc:
                raise SourceError(f"{label}: {exc}") from None


def _extract_zip(raw: IO[bytes], dest: Path, budget: Budget, label: str) -> None:
    with zipfile.ZipFile(raw) as zf:
        for info in zf.infolist():
            budget.member(label, len(info.filename))
            member = _safe_member(label, info.filename)
            if info.is_dir():
                continue
            if info.compress_type not in _ZIP_METHODS:
                raise SourceError(
                    f"{label}: entry '{shown(info.filename)}' is compressed with method "
                    f"{info.compress_type}; only stored and deflated entries are accepted"
                )
            target = dest / member
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, target.open("wb") as dst:
                _copy_capped(src, dst, budget, label)


def _extract_tar(raw: IO[bytes], dest: Path, budget: Budget, label: str) -> None:
    with tarfile.open(fileobj=raw, mode="r:gz", tarinfo=_BoundedTarInfo) as tf:
        while (tinfo := tf.next()) is not None:
            # tarfile keeps every member it read (typeshed omits the attribute); none is
            # needed again.
            tf.members.clear()  # type: ignore[attr-defined]
            budget.member(label, len(tinfo.name) + len(tinfo.linkname))
            member = _safe_member(label, tinfo.name)
            if not tinfo.isfile():
                # Links and devices are never data; what tarfile reads past them is charged.
                budget.spend(tinfo.size, label)
                continue
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


def _public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether an address, and any IPv4 address it wraps (IPv4-mapped or -compatible,
    6to4, NAT64), is public."""
    if isinstance(address, ipaddress.IPv4Address):
        return address.is_global
    if address in _LOCAL_NAT64:
        return False
    wrapped = [address.ipv4_mapped, address.sixtofour]
    if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):
        wrapped.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return address.is_global and all(w.is_global for w in wrapped if w is not None)


async def check_url(url: str, limits: SourceLimits) -> list[str] | None:
    """Refuse a URL the limits do not allow, before anything is downloaded. Returns the
    addresses its host resolved to and was checked at (None when any host is allowed), so
    that the download connects to one of them and not to what a second lookup says."""
    parts, shown_url = urlsplit(url), redacted(url)
    try:
        port = parts.port
    except ValueError:
        raise SourceError(f"{shown_url}: invalid port") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SourceError(f"{shown_url}: only http and https URLs can be loaded")
    if limits.allowed_hosts is None:
        return None
    host = parts.hostname
    if host not in limits.allowed_hosts:
        allowed = ", ".join(limits.allowed_hosts) or "none"
        raise SourceError(
            f"{shown_url}: host {host!r} is not allowed (WEATHER_ALLOWED_SOURCE_HOSTS: {allowed})"
        )
    loop = asyncio.get_running_loop()
    try:
        found = await loop.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except OSError:
        raise SourceError(f"{shown_url}: cannot resolve host {host!r}") from None
    addresses = [str(sockaddr[0]).split("%")[0] for *_, sockaddr in found]  # no IPv6 zone
    if not limits.allow_private:
        for address in map(ipaddress.ip_address, addresses):
            if not _public(address):
                raise SourceError(
                    f"{shown_url}: host {host!r} resolves to a non-public address {address}"
                )
    return addresses


async def download(url: str, dest: Path, limits: SourceLimits) -> Path:
    """Stream ``url`` into ``dest``; redirects are followed only to allowed hosts."""
    import httpx  # here: importing it costs every other load a tenth of a second

    try:
        async with (
            asyncio.timeout(limits.download_timeout_s),
            httpx.AsyncClient(timeout=httpx.Timeout(30.0), follow_redirects=False) as client,
        ):
            return await _download(client, url, dest, limits)
    except TimeoutError:
        raise SourceError(
            f"{redacted(url)}: download did not finish within {limits.download_timeout_s:g} s "
            "(WEATHER_DOWNLOAD_TIMEOUT_S)"
        ) from None
    except httpx.HTTPError as exc:
        raise SourceError(f"{redacted(url)}: cannot download: {exc or type(exc).__name__}") from exc


def _pinned(url: str, address: str) -> tuple[str, dict[str, str], dict[str, str]]:
    """(URL, headers, extensions) of a request for ``url`` sent to ``address``: the Host
    header, and for https the TLS server name (SNI and certificate check), stay the host's."""
    parts = urlsplit(url)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    ip = f"[{address}]" if ":" in address else address
    netloc = f"{userinfo}{at}{ip}" + (f":{parts.port}" if parts.port else "")
    extensions = {"sni_hostname": parts.hostname or ""} if parts.scheme == "https" else {}
    return urlunsplit(parts._replace(netloc=netloc)), {"Host": hostport}, extensions


async def _download(client: httpx.AsyncClient, url: str, dest: Path, limits: SourceLimits) -> Path:
    for _ in range(5):
        addresses = await check_url(url, limits)
        target_url, headers, extensions = _pinned(url, addresses[0]) if addresses else (url, {}, {})
        request = client.build_request("GET", target_url, headers=headers, extensions=extensions)
        response = await client.send(request, stream=True)
        try:
            if response.is_redirect:
                url = urljoin(url, response.headers["location"])
                continue
            if response.status_code != 200:
                raise SourceError(f"{redacted(url)}: HTTP {response.status_code}")
            name = PurePosixPath(urlsplit(url).path).name or "download"
            target = dest / name
            size = 0
            with target.open("wb") as out:
                async for chunk in response.aiter_bytes(CHUNK):
                    size += len(chunk)
                    if size > limits.max_download_bytes:
                        raise SourceError(f"{redacted(url)}: download exceeds the size limit")
                    out.write(chunk)
            return target
        finally:
            await response.aclose()
    raise SourceError(f"{redacted(url)}: too many redirects")


def _add_path(
    path: Path, label: str, work: Path, limits: SourceLimits, budget: Budget, found: ResolvedSources
) -> None:
    """Blocking (disk) work: the caller runs it in a thread."""
    if path.is_dir():
        _scan(path, "", found, limits.root)
    elif _is_archive(path.name):
        target = Path(tempfile.mkdtemp(dir=work))
        try:
            extract(path, target, budget, label)
        except (tarfile.TarError, zipfile.BadZipFile, EOFError) as exc:
            raise SourceError(f"{label}: not a readable archive ({exc})") from None
        _scan(target, label, found)
    elif path.exists():
        # A single file names its own kind; anything else is read as a station file and
        # rejected by name if it is not one.
        kind = classify(PurePosixPath(path.name)) or "station"
        found.files.append(DataFile(str(path.resolve()), shown(path.name), kind))
    else:
        raise SourceError(f"{label}: no such file or directory")


def read_manifest(manifest: Path) -> dict[str, str]:
    """A ``sha256sum`` file: ``<digest>  <path>`` lines, as path -> digest."""
    digests = {}
    for line in manifest.read_text().splitlines():
        digest, _, name = line.partition("  ")
        digests[name] = digest
    return digests


def verify(data: Sequence[DataFile], manifest: Path, label: str) -> None:
    """Every data file of a source has the digest its manifest gives, and every file the
    manifest names is there. Blocking: the caller runs it in a thread."""
    expected = read_manifest(manifest)
    seen = set()
    for file in data:
        # The file's path below its data directory: the archive's top directory varies.
        key = "/".join(PurePosixPath(file.name).parts[-2:])
        if (digest := expected.get(key)) is None:
            raise SourceError(f"{label}: {file.name} is not in the manifest {manifest}")
        try:
            with open_regular(file.path) as stream:
                actual = hashlib.file_digest(stream, "sha256").hexdigest()
        except OSError as exc:
            raise SourceError(f"{label}: {file.name}: cannot read ({exc.strerror})") from None
        if actual != digest:
            raise SourceError(
                f"{label}: {file.name} has SHA-256 {actual}, but the manifest {manifest} "
                f"expects {digest}"
            )
        seen.add(key)
    if missing := sorted(expected.keys() - seen):
        raise SourceError(
            f"{label}: {len(missing)} file(s) of the manifest {manifest} are missing, "
            f"first {missing[0]}"
        )


@asynccontextmanager
async def resolve(sources: list[str], limits: SourceLimits) -> AsyncIterator[ResolvedSources]:
    """Yield the data files of all sources; temporary files live until the context exits."""
    work = Path(tempfile.mkdtemp(prefix="weather-load-"))
    budget = Budget.of(limits)  # one for the whole load, over all its sources
    try:
        found = ResolvedSources()
        for source in sources:
            if is_url(source):
                path = await download(source, work, limits)
            elif limits.root is not None:
                path = inside(source, limits.root)
            else:
                path = Path(source)
            first, label = len(found.files), shown(redacted(source))
            await asyncio.to_thread(_add_path, path, label, work, limits, budget, found)
            if (manifest := limits.manifests.get(source)) is not None:
                await asyncio.to_thread(verify, found.files[first:], manifest, label)
        yield found
    finally:
        shutil.rmtree(work, ignore_errors=True)
