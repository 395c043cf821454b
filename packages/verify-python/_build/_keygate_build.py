"""A PEP 517 build backend in the standard library alone, for this pure-Python package.

``pip install`` needs no download to build it, with or without build isolation (its
``build-system.requires`` is empty), on every Python from 3.9 on: setuptools is not needed,
and ``wheel`` (which setuptools before 70.1 needs to build a wheel) neither. It builds the
wheel (``src/keygate_verify`` plus its metadata), the sdist, and an editable wheel (PEP 660:
a ``.pth`` file pointing at ``src``). The metadata comes from ``pyproject.toml``'s
``[project]`` table.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import sys
import tarfile
import time
import zipfile
from typing import Any, Dict, List, Optional, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = "keygate_verify"
TAG = "py3-none-any"


# --- pyproject.toml -------------------------------------------------------------------------


def _parse_toml_subset(text: str) -> Dict[str, Any]:
    """Tables, and keys whose values are basic strings or arrays of them: the part of TOML that
    this project's pyproject.toml uses, for Pythons without tomllib (before 3.11)."""
    data: Dict[str, Any] = {}
    table = data
    lines = iter(text.splitlines())
    for line in lines:
        line = _strip_comment(line).strip()
        if not line:
            continue
        header = re.fullmatch(r"\[([A-Za-z0-9_.-]+)\]", line)
        if header:
            table = data
            for part in header.group(1).split("."):
                table = table.setdefault(part, {})
            continue
        key, eq, value = line.partition("=")
        if not eq:
            raise ValueError(f"pyproject.toml: cannot read {line!r}")
        value = value.strip()
        if value.startswith("["):
            while value.count("[") != value.count("]"):
                value += " " + _strip_comment(next(lines)).strip()
            value = re.sub(r",\s*]$", "]", value)
        table[key.strip().strip('"')] = json.loads(value)
    return data


def _strip_comment(line: str) -> str:
    in_string = False
    for i, c in enumerate(line):
        if c == '"' and (i == 0 or line[i - 1] != "\\"):
            in_string = not in_string
        elif c == "#" and not in_string:
            return line[:i]
    return line


def _project() -> Dict[str, Any]:
    with open(os.path.join(ROOT, "pyproject.toml"), encoding="utf-8") as f:
        text = f.read()
    if sys.version_info >= (3, 11):
        import tomllib

        return dict(tomllib.loads(text)["project"])
    return dict(_parse_toml_subset(text)["project"])


def _dist_name(project: Dict[str, Any]) -> str:
    return re.sub(r"[-_.]+", "_", str(project["name"])).lower()


def _metadata(project: Dict[str, Any]) -> bytes:
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {project['name']}",
        f"Version: {project['version']}",
    ]
    if project.get("description"):
        lines.append(f"Summary: {project['description']}")
    if project.get("keywords"):
        lines.append("Keywords: " + ",".join(project["keywords"]))
    if isinstance(project.get("license"), str):
        lines.append(f"License: {project['license']}")
    for classifier in project.get("classifiers", []):
        lines.append(f"Classifier: {classifier}")
    if project.get("requires-python"):
        lines.append(f"Requires-Python: {project['requires-python']}")
    for label, url in project.get("urls", {}).items():
        lines.append(f"Project-URL: {label}, {url}")
    body = ""
    readme = project.get("readme")
    if isinstance(readme, str):
        lines.append("Description-Content-Type: text/markdown")
        with open(os.path.join(ROOT, readme), encoding="utf-8") as f:
            body = f.read()
    return ("\n".join(lines) + "\n\n" + body).encode("utf-8")


# --- archives ----------------------------------------------------------------------------------


def _epoch() -> int:
    return int(os.environ.get("SOURCE_DATE_EPOCH", "315532800"))  # 1980-01-01, zip's earliest


def _package_files() -> List[Tuple[str, str]]:
    """(path in the archive, path on disk) of every file of the package, sorted."""
    out = []
    base = os.path.join(ROOT, "src", PACKAGE)
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in sorted(filenames):
            if name.endswith((".pyc", ".pyo")):
                continue
            full = os.path.join(dirpath, name)
            out.append((os.path.relpath(full, os.path.join(ROOT, "src")).replace(os.sep, "/"), full))
    return out


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _dist_info_files(project: Dict[str, Any]) -> Dict[str, bytes]:
    wheel = f"Wheel-Version: 1.0\nGenerator: {PACKAGE}-build\nRoot-Is-Purelib: true\nTag: {TAG}\n"
    return {"METADATA": _metadata(project), "WHEEL": wheel.encode()}


def _write_wheel(wheel_directory: str, files: List[Tuple[str, bytes]]) -> str:
    project = _project()
    name, version = _dist_name(project), project["version"]
    dist_info = f"{name}-{version}.dist-info"
    files = files + [(f"{dist_info}/{k}", v) for k, v in _dist_info_files(project).items()]
    record = "".join(f"{path},{_record_hash(data)},{len(data)}\n" for path, data in files)
    record += f"{dist_info}/RECORD,,\n"
    files.append((f"{dist_info}/RECORD", record.encode()))
    filename = f"{name}-{version}-{TAG}.whl"
    date = time.gmtime(max(_epoch(), 315532800))[:6]
    with zipfile.ZipFile(os.path.join(wheel_directory, filename), "w", zipfile.ZIP_DEFLATED) as zf:
        for path, data in files:
            info = zipfile.ZipInfo(path, date_time=date)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return filename


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


# --- PEP 517 and PEP 660 hooks -----------------------------------------------------------------


def get_requires_for_build_wheel(config_settings: Optional[Dict[str, Any]] = None) -> List[str]:
    return []


def get_requires_for_build_sdist(config_settings: Optional[Dict[str, Any]] = None) -> List[str]:
    return []


def get_requires_for_build_editable(config_settings: Optional[Dict[str, Any]] = None) -> List[str]:
    return []


def prepare_metadata_for_build_wheel(
    metadata_directory: str, config_settings: Optional[Dict[str, Any]] = None
) -> str:
    project = _project()
    dist_info = f"{_dist_name(project)}-{project['version']}.dist-info"
    os.makedirs(os.path.join(metadata_directory, dist_info), exist_ok=True)
    for name, data in _dist_info_files(project).items():
        with open(os.path.join(metadata_directory, dist_info, name), "wb") as f:
            f.write(data)
    return dist_info


prepare_metadata_for_build_editable = prepare_metadata_for_build_wheel


def build_wheel(
    wheel_directory: str,
    config_settings: Optional[Dict[str, Any]] = None,
    metadata_directory: Optional[str] = None,
) -> str:
    return _write_wheel(wheel_directory, [(arc, _read(full)) for arc, full in _package_files()])


def build_editable(
    wheel_directory: str,
    config_settings: Optional[Dict[str, Any]] = None,
    metadata_directory: Optional[str] = None,
) -> str:
    pth = (os.path.join(ROOT, "src") + "\n").encode()
    return _write_wheel(wheel_directory, [(f"_{PACKAGE}_editable.pth", pth)])


def build_sdist(sdist_directory: str, config_settings: Optional[Dict[str, Any]] = None) -> str:
    project = _project()
    base = f"{_dist_name(project)}-{project['version']}"
    members: List[Tuple[str, bytes]] = [("PKG-INFO", _metadata(project))]
    for rel in ("pyproject.toml", "README.md", "_build/_keygate_build.py"):
        members.append((rel, _read(os.path.join(ROOT, rel))))
    members += [("src/" + arc, _read(full)) for arc, full in _package_files()]
    examples = os.path.join(ROOT, "examples")
    for name in sorted(os.listdir(examples)) if os.path.isdir(examples) else []:
        if name.endswith(".py"):
            members.append((f"examples/{name}", _read(os.path.join(examples, name))))
    filename = f"{base}.tar.gz"
    with tarfile.open(os.path.join(sdist_directory, filename), "w:gz", format=tarfile.PAX_FORMAT) as tf:
        for rel, data in members:
            info = tarfile.TarInfo(f"{base}/{rel}")
            info.size, info.mtime, info.mode = len(data), _epoch(), 0o644
            tf.addfile(info, io.BytesIO(data))
    return filename
