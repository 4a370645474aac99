"""Folders of ``.npy`` arrays described by a JSON manifest (serving artifacts, gift artifacts, expansion stores).

Each such folder has one manifest naming its format, format version and files (``{"files": {name: {"shape",
"dtype"}}}``). Reading checks all three and every array against its entry, so a truncated copy or a folder of
another kind fails with one message naming the file, what was expected and what was found. Numpy only, no pickle.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from lsec.errors import LsecError


def read_manifest(root: Path, manifest: str, fmt: str, version: int, what: str, how: str) -> dict[str, Any]:
    """The manifest ``root / manifest`` of format ``fmt`` and version ``version``.

    ``what`` names the kind of folder ("a gift artifact") and ``how`` says how to make one; both go into the
    error raised when the manifest is missing.
    """
    path = root / manifest
    if not path.is_file():
        raise LsecError(f"{root}: not {what} (no {manifest}; {how}).")
    try:
        content: dict[str, Any] = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise LsecError(f"{path}: not valid JSON ({err.msg} at line {err.lineno}).") from None
    if content.get("format") != fmt or content.get("format_version") != version:
        raise LsecError(
            f"{path}: expected format {fmt!r} version {version}, found "
            f"{content.get('format')!r} version {content.get('format_version')!r}."
        )
    return content


def checked_array(root: Path, files: Mapping[str, Mapping[str, Any]], name: str, mmap: bool = False) -> np.ndarray:
    """Array ``root / name`` (memory-mapped read-only with ``mmap``), checked against its manifest entry."""
    file = root / name
    if name not in files or not file.is_file():
        raise LsecError(f"{root}: artifact file {name} is missing (re-export the run).")
    try:
        array = np.load(file, allow_pickle=False, mmap_mode="r" if mmap else None)
    except ValueError as err:
        raise LsecError(f"{file}: unreadable array ({err}).") from None
    expected = files[name]
    if list(array.shape) != expected["shape"] or array.dtype.str != expected["dtype"]:
        raise LsecError(
            f"{file}: expected shape {tuple(expected['shape'])} dtype {expected['dtype']}, "
            f"found shape {array.shape} dtype {array.dtype.str} (the artifact is corrupt: re-export it)."
        )
    return array
