"""Typed errors with one message template.

Every error a user can cause names where (file, row, column), what was expected and what was found::

    buys.csv, row 17, column 'ts': expected unix seconds or an ISO-8601 date, found 'yesterday'.

The CLI prints ``str(error)`` and exits with code 2; library callers catch :class:`LsecError`.
"""

from __future__ import annotations

import errno
from pathlib import Path


class LsecError(Exception):
    """Base class of every error lsec raises on purpose."""


class LsecDataError(LsecError, ValueError):
    """Input data that cannot be used as it is.

    Args:
        message: free text when the structured fields do not fit.
        file: the file (or dataset folder) concerned.
        row: 1-based data row number (header excluded), when one row is at fault.
        column: the column or field name.
        expected: what a valid value looks like.
        found: what was there instead.
    """

    def __init__(
        self,
        message: str = "",
        *,
        file: object | None = None,
        row: int | None = None,
        column: str | None = None,
        expected: str | None = None,
        found: object | None = None,
    ) -> None:
        self.file = None if file is None else str(file)
        self.row = row
        self.column = column
        self.expected = expected
        self.found = found
        super().__init__(format_message(message, self.file, row, column, expected, found))

    @classmethod
    def from_os_error(cls, err: OSError, *, file: object | None = None, expected: str | None = None) -> LsecDataError:
        """The error of a file-system call that failed (no such folder, not a directory, permission denied ...).

        ``file`` is the path the user gave (default: the one the OS names); ``expected`` what it should be
        (default: by error number)::

            /proc/x: No such file or directory (expected a folder that lsec can create and write).
        """
        named = err.filename if isinstance(err.filename, str) else None
        where = file if file is not None else named
        reason = err.strerror or str(err) or type(err).__name__
        if file is not None and named is not None and Path(named) in Path(str(file)).parents:
            reason = f"{reason}: {named}"  # the folder above it that is missing, a file or forbidden
        if expected is None:
            expected = _OS_EXPECTED.get(err.errno or 0)
        return cls(reason, file=where, expected=expected)


_OS_EXPECTED = {
    errno.ENOENT: "a path that exists, or a folder that lsec can create",
    errno.ENOTDIR: "a path whose parents are all folders, not files",
    errno.EISDIR: "a file, not a folder",
    errno.EEXIST: "a path that does not exist yet",
    errno.EACCES: "a path this user may read and write",
    errno.EPERM: "a path this user may read and write",
    errno.EROFS: "a path on a writable file system",
    errno.ENOSPC: "free space on the disk",
}


class LsecConfigError(LsecError, ValueError):
    """A configuration key or value that is not accepted."""


def format_message(
    message: str = "",
    file: str | None = None,
    row: int | None = None,
    column: str | None = None,
    expected: str | None = None,
    found: object | None = None,
) -> str:
    where = [part for part in (file, None if row is None else f"row {row}") if part]
    if column is not None:
        where.append(f"column '{column}'")
    text = ", ".join(where)
    detail = []
    if expected is not None:
        detail.append(f"expected {expected}")
    if found is not None:
        shown = repr(found) if isinstance(found, str) else str(found)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        detail.append(f"found {shown}")
    body = ", ".join(detail)
    if message:
        body = f"{message}" + (f" ({body})" if body else "")
    if text and body:
        return f"{text}: {body}."
    return (text or body or "invalid input") + ("" if (text or body).endswith(".") else ".")
