"""Fetch the JavaScript that the built site runs in the reader's browser, so that it works offline.

``make docs`` runs this before Sphinx (``make docs-assets`` alone). It writes ``docs/_vendor/``
(git-ignored), which ``conf.py`` lists in ``html_static_path``: Sphinx copies it into
``_build/html/_static/``, and every page loads these files from there instead of from a CDN.

- MathJax 3 (``mathjax``): typesets the math of the API pages and the tutorials.
- the Jupyter widget manager for ipywidgets 8 (``@jupyter-widgets/html-manager`` 1.x,
  ``dist/embed-amd.js``): draws the saved widget state of the tutorials as controls;
- RequireJS (``requirejs``): the module loader that ``embed-amd.js`` needs.

Each package is an exact version from the npm registry, fetched with the ordinary client
(``npm pack``, which downloads only the package's own tarball, none of its dependencies), and
its tarball is checked against the sha512 pinned below before anything is unpacked. Each
package's licence goes with its files: the licence file that the tarball ships, or, for the two
whose tarballs ship none, the text in ``docs/licenses/`` (their licence as stated in their
``package.json`` and file headers). To move to another version, change the version and its
integrity (``npm view NAME@VERSION dist.integrity``) here.

Usage: ``python docs/vendor.py [--out DIR]``; it does nothing (and needs no network) when
``DIR/versions.json`` already records these pins, this script and these licence texts.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

DOCS = Path(__file__).resolve().parent
LICENSES = DOCS / "licenses"

# MathJax's combined components other than the one the site loads (conf.py: mathjax_path),
# and its node entry point: not needed in a browser. Everything else under es5/ stays, since
# MathJax loads it on demand (TeX extensions, the other renderer, the menu's accessibility tools).
_MATHJAX_UNUSED = {"mml-chtml.js", "mml-svg.js", "node-main.js", "tex-chtml-full-speech.js",
                   "tex-chtml-full.js", "tex-chtml.js", "tex-mml-svg.js", "tex-svg-full.js", "tex-svg.js"}


def _mathjax(path: PurePosixPath) -> str | None:
    if path == PurePosixPath("LICENSE"):
        return "LICENSE"
    if path.parts[0] == "es5" and not (len(path.parts) == 2 and path.name in _MATHJAX_UNUSED):
        return str(PurePosixPath(*path.parts[1:]))
    return None


def _html_manager(path: PurePosixPath) -> str | None:
    # The AMD bundle only: it holds the manager and the built-in widget packages (base, controls,
    # output), the only ones the tutorials use. Its Font Awesome files are left out: no saved
    # widget shows an icon.
    return {"dist/embed-amd.js": "embed-amd.js",
            "dist/embed.js.LICENSE.txt": "THIRD-PARTY-NOTICES.txt"}.get(str(path))


def _requirejs(path: PurePosixPath) -> str | None:
    return "require.js" if str(path) == "require.js" else None


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    integrity: str  # the registry's dist.integrity of this version's tarball
    license: str  # SPDX, as in the package's package.json
    folder: str  # under the output folder (and so under _static/ in the built site)
    pick: object  # path in the tarball (below package/) -> path in folder, or None to leave out
    license_file: str | None = None  # in docs/licenses/, where the tarball ships none


PACKAGES = [
    Package("mathjax", "3.2.2",
            "sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw==",
            "Apache-2.0", "mathjax", _mathjax),
    # 1.x is the manager of ipywidgets 8 (widget model versions base 2.0.0 / controls 2.0.0).
    Package("@jupyter-widgets/html-manager", "1.0.15",
            "sha512-5thBIV6ymNgmPVOHvzx+gGy8ZSKmSazhtGw4/c4xJDVzRhG9PTeQsRjF3FUTopvFi//SABeNz1yp47bCrJ3CQA==",
            "BSD-3-Clause", "html-manager", _html_manager, "html-manager-BSD-3-Clause.txt"),
    Package("requirejs", "2.3.8",
            "sha512-7/cTSLOdYkNBNJcDMWf+luFvMriVm7eYxp4BcFCsAX0wF421Vyce5SXP17c+Jd5otXKGNehIonFlyQXSowL6Mw==",
            "MIT", "requirejs", _requirejs, "requirejs-MIT.txt"),
]


def record() -> dict:
    """What versions.json records: each package, and a digest of this script and the licence
    texts, so that a change to either (another file picked, a corrected licence) refreshes too."""
    digest = hashlib.sha256(Path(__file__).read_bytes())
    for path in sorted(LICENSES.glob("*.txt")):
        digest.update(path.read_bytes())
    return {"packages": {p.name: {"version": p.version, "integrity": p.integrity, "license": p.license,
                                  "folder": p.folder} for p in PACKAGES},
            "sources": digest.hexdigest()}


def _integrity(path: Path) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(path.read_bytes()).digest()).decode()


def _npm_pack(specs: list[str], into: Path) -> list[Path]:
    npm = shutil.which("npm")
    if npm is None:
        sys.exit("docs/vendor.py: npm is needed to fetch the site's JavaScript (apt-get install npm)")
    result = subprocess.run([npm, "pack", "--json", "--ignore-scripts", "--pack-destination", str(into), *specs],
                            capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"docs/vendor.py: npm pack {' '.join(specs)} failed:\n{result.stderr[-3000:]}")
    return [into / entry["filename"] for entry in json.loads(result.stdout)]


def _unpack(package: Package, tarball: Path, target: Path) -> int:
    count = 0
    with tarfile.open(tarball) as tar:
        for member in tar.getmembers():
            parts = PurePosixPath(member.name).parts
            if not member.isfile() or len(parts) < 2 or parts[0] != "package" or ".." in parts:
                continue
            destination = package.pick(PurePosixPath(*parts[1:]))
            if destination is None:
                continue
            path = target / destination
            path.parent.mkdir(parents=True, exist_ok=True)
            with tar.extractfile(member) as source, open(path, "wb") as out:
                shutil.copyfileobj(source, out)
            count += 1
    if package.license_file:
        shutil.copyfile(LICENSES / package.license_file, target / "LICENSE")
    if not (target / "LICENSE").is_file():
        sys.exit(f"docs/vendor.py: no licence file for {package.name}")
    return count


def vendor(out: Path) -> None:
    recorded = out / "versions.json"
    if recorded.is_file() and json.loads(recorded.read_text()) == record():
        print(f"{out}: up to date ({', '.join(f'{p.name}@{p.version}' for p in PACKAGES)})")
        return
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        tarballs = _npm_pack([f"{p.name}@{p.version}" for p in PACKAGES], tmp)
        staging = tmp / "out"
        for package, tarball in zip(PACKAGES, tarballs, strict=True):
            got = _integrity(tarball)
            if got != package.integrity:
                sys.exit(f"docs/vendor.py: {package.name}@{package.version}: tarball {got}, pinned {package.integrity}")
            count = _unpack(package, tarball, staging / package.folder)
            print(f"{package.name}@{package.version} ({package.license}): {count} files -> {out / package.folder}")
        (staging / "versions.json").write_text(json.dumps(record(), indent=2) + "\n")
        shutil.rmtree(out, ignore_errors=True)
        shutil.copytree(staging, out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DOCS / "_vendor", help="default: docs/_vendor")
    vendor(parser.parse_args(argv).out)


if __name__ == "__main__":
    main()
