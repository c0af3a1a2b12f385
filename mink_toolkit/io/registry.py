"""Registry of the OPERA teaching files and where to find them.

The 47 EUMETNET OPERA composites used by the tutorials are listed in
``data/registry.csv`` (relative name, product, nominal time, size in bytes,
SHA-256 and a public URL pinned to commit
``eaa59fb8f39205a3b1a0b44724ad8cd4a86d107e`` of the pysteps example-data
repository). No data file is stored in this repository.

:func:`fetch_opera` finds a file in this order:

1. ``$MINK_DATA_DIR/<name>`` -- a local copy with the repository's layout
   (``20180824/``, ``20241126/CIRRUS/``, ``20241126/NIMBUS/``), e.g. the
   shared copy ``../shared/data/opera`` that ``make test`` points at;
2. ``cache_dir()/<name>`` -- the user cache (``$MINK_CACHE_DIR`` if set, else
   ``pooch.os_cache("mink_toolkit")``);
3. a download with :func:`pooch.retrieve` from ``$MINK_DATA_URL/<name>``
   (default: the pinned pysteps-data URL) into the user cache, accepted only
   if its SHA-256 matches the registry.

Files found locally (steps 1 and 2) are checked against the registry's
SHA-256 too. Hashing an 81 MiB collection costs about half a second, so the
result is remembered for the rest of the process, keyed by the file's path,
size and modification time: a file that is replaced or rewritten is hashed
again, an unchanged one only once per process.

Errors are specific and say what to do:

* :class:`OperaDataNotFoundError` (a :class:`FileNotFoundError`): the file is
  in no local place and could not be downloaded; the message names the file,
  every place looked at and how to get it.
* :class:`OperaChecksumError` (a :class:`ValueError`): a local or downloaded
  file does not match the registry's SHA-256.
* :class:`OperaFileError` (an :class:`OSError`): the file exists but is not a
  readable ODIM HDF5 composite (raised by :func:`mink_toolkit.read_odim` and the lazy series).
"""

from __future__ import annotations

import csv
import hashlib
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pooch

__all__ = [
    "DEFAULT_DATA_URL",
    "OPERA_PRODUCTS",
    "OperaChecksumError",
    "OperaDataNotFoundError",
    "OperaFileError",
    "RegistryEntry",
    "cache_dir",
    "data_url",
    "fetch_opera",
    "is_registry_file",
    "file_sha256",
    "opera_files",
    "registry",
    "registry_path",
]

#: Public base URL of the files, pinned to one commit of pysteps-data.
DEFAULT_DATA_URL = (
    "https://raw.githubusercontent.com/pySTEPS/pysteps-data/"
    "eaa59fb8f39205a3b1a0b44724ad8cd4a86d107e/radar/OPERA"
)

#: Product keys of the registry and what they are.
OPERA_PRODUCTS = {
    "odyssey_rate": "2018-08-24 Odyssey rain rate (RATE, mm/h, 2 km, ODIM 2.0), T_PAAH21",
    "cirrus_dbzh": "2024-11-26 CIRRUS maximum reflectivity (DBZH, dBZ, 1 km, ODIM 2.4), T_PABV21",
    "nimbus_rate": "2024-11-26 NIMBUS rain rate (RATE, mm/h, 2 km, ODIM 2.4), T_PAAH22",
    "nimbus_acrr": "2024-11-26 NIMBUS 1-hour accumulation (ACRR, mm, 2 km, ODIM 2.4), T_PASH22",
}

_ENV_DATA_DIR = "MINK_DATA_DIR"
_ENV_CACHE_DIR = "MINK_CACHE_DIR"
_ENV_DATA_URL = "MINK_DATA_URL"


class OperaDataNotFoundError(FileNotFoundError):
    """An OPERA file is in no local place and could not be downloaded."""


class OperaChecksumError(ValueError):
    """A local or downloaded OPERA file does not match its registered SHA-256."""


class OperaFileError(OSError):
    """A file exists but is not a readable ODIM HDF5 composite."""


@dataclass(frozen=True)
class RegistryEntry:
    """One registered OPERA file.

    Attributes
    ----------
    name : str
        Path relative to the collection root, e.g.
        ``"20180824/T_PAAH21_C_EUOC_20180824180000.hdf"``.
    product : str
        One of :data:`OPERA_PRODUCTS`.
    time : str
        Nominal time (UTC, ISO 8601, from the file name).
    size : int
        Size in bytes.
    sha256 : str
        SHA-256 of the file (hex).
    url : str
        Public URL pinned to a pysteps-data commit.
    """

    name: str
    product: str
    time: str
    size: int
    sha256: str
    url: str


def registry_path() -> Path:
    """Path of ``data/registry.csv`` (beside the package in a source checkout)."""
    return Path(__file__).resolve().parents[2] / "data" / "registry.csv"


@lru_cache(maxsize=1)
def _load_registry() -> dict[str, RegistryEntry]:
    path = registry_path()
    if not path.is_file():
        raise FileNotFoundError(
            f"the OPERA registry {path} is missing; mink_toolkit must be installed from "
            "its source checkout (pip install -e .) so that data/registry.csv is found"
        )
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    entries = {}
    for row in rows:
        entry = RegistryEntry(
            name=row["name"],
            product=row["product"],
            time=row["time"],
            size=int(row["size"]),
            sha256=row["sha256"].lower(),
            url=row["url"],
        )
        entries[entry.name] = entry
    return entries


def registry() -> dict[str, RegistryEntry]:
    """All registered files, keyed by name.

    Returns
    -------
    dict of str to RegistryEntry
        A fresh dict (mutating it does not change the registry).

    Examples
    --------
    >>> from mink_toolkit.io.registry import registry
    >>> len(registry())
    47
    """
    return dict(_load_registry())


def opera_files(product: str | None = None) -> list[str]:
    """Names of the registered OPERA files, sorted by nominal time.

    Parameters
    ----------
    product : str, optional
        Keep only one product: ``"odyssey_rate"``, ``"cirrus_dbzh"``,
        ``"nimbus_rate"`` or ``"nimbus_acrr"`` (see :data:`OPERA_PRODUCTS`).
        ``None`` (default) lists all 47 files.

    Returns
    -------
    list of str
        Relative names (``"20180824/T_PAAH21_C_EUOC_20180824180000.hdf"``),
        accepted by :func:`fetch_opera` and :func:`mink_toolkit.load_opera`;
        ties in time are broken by name.

    Examples
    --------
    >>> from mink_toolkit import opera_files
    >>> opera_files("nimbus_rate")[0]
    '20241126/NIMBUS/T_PAAH22_C_EUOC_20241126010000.hdf'
    >>> len(opera_files())
    47
    """
    if product is not None and product not in OPERA_PRODUCTS:
        raise ValueError(
            f"product must be one of {tuple(OPERA_PRODUCTS)} or None; got {product!r}"
        )
    entries = [
        e for e in _load_registry().values() if product is None or e.product == product
    ]
    return [e.name for e in sorted(entries, key=lambda e: (e.time, e.name))]


def cache_dir() -> Path:
    """User cache folder for downloaded OPERA files.

    ``$MINK_CACHE_DIR`` if set, else ``pooch.os_cache("mink_toolkit")``
    (e.g. ``~/.cache/mink_toolkit`` on Linux). Files keep their registry
    sub-folders inside it. The folder is not created here.

    Examples
    --------
    >>> from mink_toolkit.io.registry import cache_dir
    >>> cache_dir().name != ""
    True
    """
    env = os.environ.get(_ENV_CACHE_DIR)
    if env:
        return Path(env).expanduser()
    return Path(pooch.os_cache("mink_toolkit"))


def is_registry_file(path) -> bool:
    """Whether ``path`` is a registered file where :func:`fetch_opera` keeps it.

    True for ``$MINK_DATA_DIR/<name>`` and ``cache_dir()/<name>`` with
    ``<name>`` in the registry: such a file can be fetched again, a user's
    own file cannot (the advice of a read error differs).

    Examples
    --------
    >>> from mink_toolkit import fetch_opera
    >>> is_registry_file(fetch_opera("20180824/T_PAAH21_C_EUOC_20180824180000.hdf")), is_registry_file("/tmp/x.hdf")
    (True, False)
    """
    path = Path(os.path.abspath(os.fspath(path)))
    roots = [cache_dir()]
    if os.environ.get(_ENV_DATA_DIR):
        roots.insert(0, Path(os.environ[_ENV_DATA_DIR]).expanduser())
    names = _load_registry()
    for root in roots:
        try:
            name = path.relative_to(os.path.abspath(root)).as_posix()
        except ValueError:
            continue
        if name in names:
            return True
    return False


def data_url() -> str:
    """Base URL for downloads: ``$MINK_DATA_URL`` if set, else :data:`DEFAULT_DATA_URL`.

    The override exists for mirrors and for the tests, which serve a copy of
    the files from a local HTTP server.
    """
    return os.environ.get(_ENV_DATA_URL, DEFAULT_DATA_URL).rstrip("/")


def file_sha256(path) -> str:
    """SHA-256 of a file's bytes, hex, as in the OPERA ``SHA256SUMS`` and the registry.

    The one file hash of the toolkit: the registry checks, the provenance of
    ``curves`` outputs and their ``--resume`` all use it.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    str
        64 lowercase hex digits.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile(delete=False) as f:
    ...     _ = f.write(b"abc")
    >>> file_sha256(f.name)[:16]
    'ba7816bf8f01cfea'
    """
    with open(path, "rb") as handle:
        # file_digest reads in large blocks without holding the GIL while hashing.
        return hashlib.file_digest(handle, "sha256").hexdigest()


# (resolved path, size, mtime_ns) -> sha256 hex, for files hashed in this process.
_HASH_MEMO: dict[tuple[str, int, int], str] = {}


def _sha256(path: Path) -> str:
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    digest = _HASH_MEMO.get(key)
    if digest is None:
        digest = file_sha256(path)
        _HASH_MEMO[key] = digest
    return digest


def _check_local(path: Path, entry: RegistryEntry, where: str) -> Path:
    digest = _sha256(path)
    if digest != entry.sha256:
        raise OperaChecksumError(
            f"OPERA file {entry.name!r} found at {path} ({where}) does not match the "
            f"registry: sha256 {digest} instead of {entry.sha256} (size "
            f"{path.stat().st_size} B, registered {entry.size} B). The copy is corrupt or "
            f"a different file; delete or replace it (a fresh copy is at {entry.url})."
        )
    return path


def _entry(name) -> RegistryEntry:
    if not isinstance(name, str):
        raise TypeError(f"name must be a registry name (str); got {type(name).__name__}")
    entries = _load_registry()
    # Accept Windows-style separators and a leading "./" for convenience.
    key = name.replace("\\", "/").removeprefix("./")
    if key not in entries:
        by_basename = [e.name for e in entries.values() if e.name.rsplit("/", 1)[-1] == key]
        if len(by_basename) == 1:
            return entries[by_basename[0]]
        raise ValueError(
            f"name {name!r} is not in the OPERA registry ({registry_path()}). Valid names "
            "are relative paths such as '20180824/T_PAAH21_C_EUOC_20180824180000.hdf'; "
            "list them with mink_toolkit.opera_files() or opera_files(product) with "
            f"product in {tuple(OPERA_PRODUCTS)}."
        )
    return entries[key]


def fetch_opera(name: str, *, download: bool = True) -> Path:
    """Local path of a registered OPERA file, downloading it if needed.

    Looks in ``$MINK_DATA_DIR``, then the user cache (:func:`cache_dir`),
    then downloads ``$MINK_DATA_URL/<name>`` (default: the pinned
    pysteps-data URL) into the cache with pooch. Every file returned matches
    the registry's SHA-256 (local files are hashed once per process, see the
    module docstring).

    Parameters
    ----------
    name : str
        Registry name, as listed by :func:`opera_files` (a bare file name is
        accepted too, since file names are unique).
    download : bool, default True
        Allow the download step. With ``False`` only local places are tried.

    Returns
    -------
    pathlib.Path
        Path of the verified file.

    Raises
    ------
    ValueError
        ``name`` is not registered (the message says how to list valid names).
    OperaChecksumError
        A local copy or the downloaded file has the wrong SHA-256.
    OperaDataNotFoundError
        Not found locally and the download failed or was not allowed; the
        message lists each place looked at and how to get the file.

    Examples
    --------
    >>> from mink_toolkit import fetch_opera, opera_files
    >>> path = fetch_opera(opera_files("odyssey_rate")[0])
    >>> path.name
    'T_PAAH21_C_EUOC_20180824180000.hdf'
    """
    entry = _entry(name)
    looked: list[str] = []

    data_dir = os.environ.get(_ENV_DATA_DIR)
    if data_dir:
        candidate = Path(data_dir).expanduser() / entry.name
        if candidate.is_file():
            return _check_local(candidate, entry, f"${_ENV_DATA_DIR}")
        looked.append(f"${_ENV_DATA_DIR}: {candidate} (no such file)")
    else:
        looked.append(f"${_ENV_DATA_DIR}: not set")

    cached = cache_dir() / entry.name
    if cached.is_file():
        return _check_local(cached, entry, "user cache")
    looked.append(f"user cache: {cached} (no such file)")

    url = f"{data_url()}/{entry.name}"
    if not download:
        looked.append(f"download from {url}: not tried (download=False)")
    else:
        try:
            path = pooch.retrieve(
                url,
                known_hash=f"sha256:{entry.sha256}",
                fname=cached.name,
                path=cached.parent,
                progressbar=False,
            )
            return Path(path)
        except ValueError as exc:
            # pooch refuses a download whose hash differs and deletes it.
            raise OperaChecksumError(
                f"OPERA file {entry.name!r} downloaded from {url} does not match the "
                f"registry's sha256 {entry.sha256}; it was refused and not kept. The server "
                f"holds a different or damaged file (pooch: {exc})"
            ) from None
        except OSError as exc:
            # requests' RequestException (connection refused, HTTP 404, timeout)
            # is an OSError subclass, as are file-system errors in the cache.
            looked.append(f"download from {url}: failed ({type(exc).__name__}: {exc})")

    places = "\n  - ".join(looked)
    raise OperaDataNotFoundError(
        f"OPERA file {entry.name!r} was not found. Looked in:\n  - {places}\n"
        "To get it: point MINK_DATA_DIR at a folder holding the OPERA collection with its "
        "sub-folders (e.g. export MINK_DATA_DIR=../shared/data/opera), or download "
        f"{entry.url} to {cached} (sha256 {entry.sha256}), or retry when online "
        f"(set MINK_DATA_URL to use a mirror)."
    )
