"""Tests of the OPERA registry and fetch_opera: local folders, user cache, real downloads.

The download path is exercised for real: a threaded ``http.server`` on
127.0.0.1 (ephemeral port) serves a temporary copy of a few registered files,
``$MINK_DATA_URL`` points pooch at it, ``$MINK_DATA_DIR`` is unset and
``$MINK_CACHE_DIR`` is a temporary folder. Source copies come from
``fetch_opera`` itself ($MINK_DATA_DIR in CI).
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import os
import shutil
import socket
import threading
from pathlib import Path

import pooch
import pytest

import mink_toolkit as mt
from mink_toolkit.io import registry as reg
from mink_toolkit.io.registry import OperaChecksumError, OperaDataNotFoundError

PINNED = "https://raw.githubusercontent.com/pySTEPS/pysteps-data/eaa59fb8f39205a3b1a0b44724ad8cd4a86d107e/radar/OPERA"
# Two small files (about 1.5 MB each) from different folders.
SERVED = [
    "20241126/NIMBUS/T_PAAH22_C_EUOC_20241126010000.hdf",
    "20241126/NIMBUS/T_PASH22_C_EUOC_20241126011500.hdf",
]


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@functools.lru_cache(maxsize=None)
def _original(name: str) -> Path:
    # Resolved before the tests change the environment (module-level cache).
    return mt.fetch_opera(name)


@pytest.fixture(scope="module", autouse=True)
def _originals():
    for name in SERVED:
        _original(name)


class _Server:
    """A threaded HTTP server on 127.0.0.1 that records the paths requested."""

    def __init__(self, root: Path):
        self.requests: list[str] = []
        outer = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(root), **kwargs)

            def log_message(self, format, *args):  # noqa: A002 - silence stderr, keep a record
                outer.requests.append(self.path)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def served_root(tmp_path):
    """Temporary copy of SERVED with the registry's sub-folders."""
    root = tmp_path / "server"
    for name in SERVED:
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(_original(name), target)
    return root


@pytest.fixture
def server(served_root):
    srv = _Server(served_root)
    yield srv
    srv.close()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """Empty user cache; no $MINK_DATA_DIR."""
    path = tmp_path / "cache"
    monkeypatch.delenv("MINK_DATA_DIR", raising=False)
    monkeypatch.setenv("MINK_CACHE_DIR", str(path))
    return path


def _closed_port_url() -> str:
    # Bind an ephemeral port, then close it: nothing listens there afterwards.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# --------------------------------------------------------------------------- registry


def test_registry_matches_shared_checksums():
    entries = reg.registry()
    assert len(entries) == 47
    for name in SERVED:
        entry = entries[name]
        path = _original(name)
        assert entry.size == path.stat().st_size
        assert entry.sha256 == _sha256(path)
    data_dir = os.environ.get("MINK_DATA_DIR")
    if data_dir and (Path(data_dir) / "SHA256SUMS").is_file():
        sums = {}
        for line in (Path(data_dir) / "SHA256SUMS").read_text().splitlines():
            digest, name = line.split()
            if name.endswith(".hdf"):
                sums[name] = digest
        assert sums == {name: e.sha256 for name, e in entries.items()}
    for name, entry in entries.items():
        assert entry.name == name
        assert entry.url == f"{PINNED}/{name}"
        assert len(entry.sha256) == 64
        assert Path(name).name.endswith(entry.time.replace("-", "").replace(":", "").replace("T", "") + ".hdf")


def test_opera_files_by_product():
    counts = {p: len(mt.opera_files(p)) for p in reg.OPERA_PRODUCTS}
    assert counts == {"odyssey_rate": 24, "cirrus_dbzh": 13, "nimbus_rate": 5, "nimbus_acrr": 5}
    names = mt.opera_files()
    assert len(names) == 47 and sorted(names) == sorted(reg.registry())
    times = [reg.registry()[n].time for n in names]
    assert times == sorted(times)
    assert all("T_PAAH21" in n for n in mt.opera_files("odyssey_rate"))
    assert all(n.startswith("20241126/CIRRUS/") for n in mt.opera_files("cirrus_dbzh"))
    with pytest.raises(ValueError, match="product must be one of"):
        mt.opera_files("radar")


def test_cache_dir_and_data_url(monkeypatch, tmp_path):
    monkeypatch.delenv("MINK_CACHE_DIR", raising=False)
    assert reg.cache_dir() == Path(pooch.os_cache("mink_toolkit"))
    monkeypatch.setenv("MINK_CACHE_DIR", str(tmp_path))
    assert reg.cache_dir() == tmp_path
    monkeypatch.delenv("MINK_DATA_URL", raising=False)
    assert reg.data_url() == PINNED
    monkeypatch.setenv("MINK_DATA_URL", "http://mirror.example/opera/")
    assert reg.data_url() == "http://mirror.example/opera"


def test_unknown_name_says_how_to_list_names():
    with pytest.raises(ValueError, match=r"opera_files\(\)"):
        mt.fetch_opera("T_XXXX_C_EUOC_20180824180000.hdf")
    with pytest.raises(TypeError, match="name"):
        mt.fetch_opera(3)


# --------------------------------------------------------------------------- local places


def test_fetch_from_data_dir(tmp_path, monkeypatch):
    name = SERVED[0]
    local = tmp_path / "opera" / name
    local.parent.mkdir(parents=True)
    shutil.copyfile(_original(name), local)
    monkeypatch.setenv("MINK_DATA_DIR", str(tmp_path / "opera"))
    monkeypatch.setenv("MINK_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("MINK_DATA_URL", _closed_port_url())  # must not be needed
    assert mt.fetch_opera(name) == local
    assert mt.fetch_opera(Path(name).name) == local  # bare file names are unique
    assert not (tmp_path / "cache").exists()


def test_fetch_from_cache_without_network(cache, monkeypatch):
    name = SERVED[1]
    cached = cache / name
    cached.parent.mkdir(parents=True)
    shutil.copyfile(_original(name), cached)
    monkeypatch.setenv("MINK_DATA_URL", _closed_port_url())
    assert mt.fetch_opera(name) == cached
    assert mt.load_opera(name).attrs["quantity"] == "ACRR"


@pytest.mark.parametrize("place", ["data_dir", "cache"])
def test_corrupt_local_copy_is_refused(tmp_path, monkeypatch, place):
    name = SERVED[0]
    root = tmp_path / place
    target = root / name
    target.parent.mkdir(parents=True)
    data = bytearray(_original(name).read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte, same size
    target.write_bytes(bytes(data))
    monkeypatch.setenv("MINK_DATA_URL", _closed_port_url())
    if place == "data_dir":
        monkeypatch.setenv("MINK_DATA_DIR", str(root))
        monkeypatch.setenv("MINK_CACHE_DIR", str(tmp_path / "cache"))
    else:
        monkeypatch.delenv("MINK_DATA_DIR", raising=False)
        monkeypatch.setenv("MINK_CACHE_DIR", str(root))
    with pytest.raises(OperaChecksumError, match="does not match") as info:
        mt.fetch_opera(name)
    assert str(target) in str(info.value) and isinstance(info.value, ValueError)


def test_hash_memo_notices_a_rewritten_file(tmp_path, monkeypatch):
    """A file verified once and then rewritten (same size, new mtime) is hashed again."""
    name = SERVED[0]
    target = tmp_path / "opera" / name
    target.parent.mkdir(parents=True)
    shutil.copyfile(_original(name), target)
    monkeypatch.setenv("MINK_DATA_DIR", str(tmp_path / "opera"))
    monkeypatch.setenv("MINK_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("MINK_DATA_URL", _closed_port_url())
    assert mt.fetch_opera(name) == target
    data = bytearray(target.read_bytes())
    data[100] ^= 0xFF
    stat = target.stat()
    target.write_bytes(bytes(data))
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    with pytest.raises(OperaChecksumError, match=name.rsplit("/", 1)[-1]):
        mt.fetch_opera(name)


# --------------------------------------------------------------------------- downloads


def test_download_from_local_server(server, cache, monkeypatch):
    monkeypatch.setenv("MINK_DATA_URL", server.url)
    for name in SERVED:
        path = mt.fetch_opera(name)
        assert path == cache / name  # registry sub-folders kept in the cache
        assert _sha256(path) == reg.registry()[name].sha256
    assert server.requests == [f"/{name}" for name in SERVED]
    # Second call: served from the cache, no new request.
    assert mt.fetch_opera(SERVED[0]) == cache / SERVED[0]
    assert len(server.requests) == len(SERVED)
    rain = mt.load_opera(SERVED[0])
    assert rain.attrs["quantity"] == "RATE" and rain.attrs["registry_name"] == SERVED[0]


def test_download_with_wrong_checksum_is_refused(server, served_root, cache, monkeypatch):
    name = SERVED[0]
    served = served_root / name
    data = bytearray(served.read_bytes())
    data[-10] ^= 0xFF
    served.write_bytes(bytes(data))
    monkeypatch.setenv("MINK_DATA_URL", server.url)
    with pytest.raises(OperaChecksumError, match="refused") as info:
        mt.fetch_opera(name)
    message = str(info.value)
    assert name in message and f"{server.url}/{name}" in message
    assert server.requests == [f"/{name}"]
    # Nothing corrupt is left in the cache: a later fetch is not fooled.
    assert not (cache / name).exists()
    leftovers = [p for p in cache.rglob("*") if p.is_file()]
    assert leftovers == []


def test_missing_on_server_reports_where_it_looked(server, cache, monkeypatch, tmp_path):
    name = "20180824/T_PAAH21_C_EUOC_20180824180000.hdf"  # registered, not served
    monkeypatch.setenv("MINK_DATA_URL", server.url)
    monkeypatch.setenv("MINK_DATA_DIR", str(tmp_path / "empty"))
    with pytest.raises(OperaDataNotFoundError) as info:
        mt.fetch_opera(name)
    message = str(info.value)
    assert str(tmp_path / "empty" / name) in message
    assert str(cache / name) in message
    assert f"{server.url}/{name}" in message and "404" in message


def test_unreachable_url_says_where_it_looked_and_how_to_get_it(cache, monkeypatch):
    name = SERVED[0]
    url = _closed_port_url()
    monkeypatch.setenv("MINK_DATA_URL", url)
    with pytest.raises(OperaDataNotFoundError) as info:
        mt.fetch_opera(name)
    error = info.value
    assert isinstance(error, FileNotFoundError)
    message = str(error)
    assert f"{name!r} was not found" in message
    assert "$MINK_DATA_DIR: not set" in message
    assert str(cache / name) in message  # the user cache
    assert f"{url}/{name}" in message  # the download tried
    assert "MINK_DATA_DIR" in message.split("To get it")[1]  # how to get it
    assert f"{PINNED}/{name}" in message  # the public URL to download by hand
    assert reg.registry()[name].sha256 in message
    with pytest.raises(OperaDataNotFoundError, match="download=False"):
        mt.load_opera(name, download=False)
