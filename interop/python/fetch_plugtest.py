#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0 OR MIT
"""Fetch aiocoap's OSCORE plugtest into a cache directory and recreate its contexts.

The plugtest (`contrib/oscore-plugtest/` of the aiocoap source distribution) is not part of the
wheel, and the sdist does not ship the `common-context/` directory its scripts copy their
security contexts from. This script, run with the interop venv's interpreter:

1. downloads the aiocoap sdist with that interpreter's pip (`pip download --no-binary :all:`),
   unless it is already in `CACHE/downloads/`, and checks its SHA-256;
2. unpacks only `contrib/oscore-plugtest/` into `CACHE/aiocoap-VERSION-oscore-plugtest/`;
3. writes `common-context/{a,b,c,d}/settings.json` there: a/b are the client/server contexts
   of RFC 8613 Appendix C.1, c/d the same with the ID Context of Appendix C.3.

It prints the plugtest directory on stdout (pip's output goes to stderr). Running it again is
cheap: a complete directory is reused. Nothing it writes belongs in version control.
"""

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

# The sdist this harness was written against; pip checks PyPI's hash on download, this pins it.
SDIST_SHA256 = {
    "0.4.17": "464c8d2b85ec1ef435dabeaa3fb6c8256b40fadfe6ce4ca83b93acb8d555f436",
}

# RFC 8613 Appendix C.1 (a: client, b: server) and C.3 (c, d: with ID Context).
MASTER_SECRET = "0102030405060708090a0b0c0d0e0f10"
MASTER_SALT = "9e7ca92223786340"
ID_CONTEXT = "37cbf3210017a2d3"
CONTEXTS = {
    "a": {"sender-id_hex": "", "recipient-id_hex": "01"},
    "b": {"sender-id_hex": "01", "recipient-id_hex": ""},
    "c": {"sender-id_hex": "", "recipient-id_hex": "01", "id-context_hex": ID_CONTEXT},
    "d": {"sender-id_hex": "01", "recipient-id_hex": "", "id-context_hex": ID_CONTEXT},
}

NEEDED = ["plugtest-server", "plugtest-client", "plugtest_common.py"]


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def is_complete(directory: Path) -> bool:
    return all((directory / n).is_file() for n in NEEDED) and all(
        (directory / "common-context" / c / "settings.json").is_file() for c in CONTEXTS
    )


def download(version: str, downloads: Path) -> Path:
    sdist = downloads / f"aiocoap-{version}.tar.gz"
    if not sdist.is_file():
        downloads.mkdir(parents=True, exist_ok=True)
        log(f"downloading the aiocoap {version} sdist into {downloads}")
        # Download into a directory of our own and move the file into place, so that a
        # concurrent run never reads a partial file.
        with tempfile.TemporaryDirectory(prefix="download-", dir=downloads) as tmp:
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps",
                 f"aiocoap=={version}", "-d", tmp],
                check=True, stdout=sys.stderr,
            )
            os.replace(Path(tmp) / sdist.name, sdist)
    digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
    expected = SDIST_SHA256.get(version)
    if expected is not None and digest != expected:
        sdist.unlink()
        raise SystemExit(f"{sdist}: SHA-256 {digest}, expected {expected}; deleted it, run again")
    return sdist


def unpack(sdist: Path, version: str, into: Path) -> None:
    prefix = f"aiocoap-{version}/contrib/oscore-plugtest/"
    with tarfile.open(sdist) as tar:
        members = [m for m in tar.getmembers() if m.name.startswith(prefix) and m.isfile()]
        if not members:
            raise SystemExit(f"{sdist} holds no {prefix}")
        for m in members:
            m.name = m.name[len(prefix):]
            if hasattr(tarfile, "data_filter"):
                tar.extract(m, into, filter="data")
            else:
                tar.extract(m, into)


def write_contexts(directory: Path) -> None:
    for name, ids in CONTEXTS.items():
        ctx = directory / "common-context" / name
        ctx.mkdir(parents=True, exist_ok=True)
        settings = {
            "algorithm": "AES-CCM-16-64-128",
            "secret_hex": MASTER_SECRET,
            "salt_hex": MASTER_SALT,
            **ids,
        }
        (ctx / "settings.json").write_text(json.dumps(settings, indent=2) + "\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cache", required=True, type=Path, help="cache directory")
    p.add_argument("--version", default="0.4.17", help="aiocoap version")
    opts = p.parse_args()

    dest = opts.cache / f"aiocoap-{opts.version}-oscore-plugtest"
    if not is_complete(dest):
        sdist = download(opts.version, opts.cache / "downloads")
        staging = Path(tempfile.mkdtemp(prefix="plugtest-", dir=opts.cache))
        try:
            unpack(sdist, opts.version, staging)
            write_contexts(staging)
            for n in NEEDED[:2]:
                os.chmod(staging / n, 0o755)
            if not is_complete(staging):
                raise SystemExit(f"{sdist}: the plugtest lacks one of {NEEDED}")
            if dest.exists():
                shutil.rmtree(dest)
            try:
                os.rename(staging, dest)
            except OSError:
                # Another run finished first; its copy is as good as ours.
                if not is_complete(dest):
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    print(dest)


if __name__ == "__main__":
    main()
