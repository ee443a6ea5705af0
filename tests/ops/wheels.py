"""Tiny pure-Python wheels for the pip tests, written by hand (a wheel is a zip with a
module and a `.dist-info` of METADATA, WHEEL and RECORD), so no test needs an index or a
build backend."""

from __future__ import annotations

import base64
import hashlib
import io
import re
import zipfile
from pathlib import Path


def _record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def wheel_name(name: str, version: str) -> str:
    return f"{re.sub(r'[-_.]+', '_', name)}-{version}-py3-none-any.whl"


def wheel_bytes(name: str, version: str) -> bytes:
    """A wheel of distribution `name` at `version` whose module (the name with `_`) holds
    `VERSION = "<version>"`."""
    module = re.sub(r"[-.]+", "_", name).lower()
    dist_info = f"{re.sub(r'[-_.]+', '_', name)}-{version}.dist-info"
    files = {
        f"{module}.py": f'VERSION = "{version}"\n'.encode(),
        f"{dist_info}/METADATA": (
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
            "Summary: pullinfra test package\n"
        ).encode(),
        f"{dist_info}/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: pullinfra-tests\nRoot-Is-Purelib: true\n"
            b"Tag: py3-none-any\n"
        ),
    }
    record = "\n".join([*(_record_line(p, d) for p, d in files.items()),
                        f"{dist_info}/RECORD,,"]) + "\n"
    files[f"{dist_info}/RECORD"] = record.encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, data in files.items():
            # A fixed timestamp: the same wheel is the same bytes on every run.
            archive.writestr(zipfile.ZipInfo(path, date_time=(2024, 1, 1, 0, 0, 0)), data)
    return out.getvalue()


def write_wheels(directory: Path, wheels: list[tuple[str, str]]) -> list[Path]:
    """Write each (name, version) wheel into `directory`; their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, version in wheels:
        path = directory / wheel_name(name, version)
        path.write_bytes(wheel_bytes(name, version))
        paths.append(path)
    return paths
