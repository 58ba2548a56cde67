"""Checked, resumable, cached downloads (http(s) and file URLs)."""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

CHUNK = 1 << 20


class DownloadError(RuntimeError):
    pass


def file_md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def fetch(url: str, dest: Path, md5: str, progress: Callable[[int, int | None], None] | None = None,
          timeout: float = 30.0) -> Path:
    """Download ``url`` to ``dest`` unless a file with the right checksum is there.

    A partial download is kept as ``<dest>.part`` and resumed with an HTTP Range request.
    On a checksum mismatch the partial file is deleted and nothing is left at ``dest``.
    """
    dest = Path(dest)
    if dest.is_file() and file_md5(dest) == md5:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(url)
    if have:
        req.add_header("Range", f"bytes={have}-")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status = getattr(resp, "status", None)
            if have and status != 206:
                have = 0  # server ignored the range: start over
            total = resp.headers.get("Content-Length")
            total_n = int(total) + have if total and total.isdigit() else None
            with open(part, "ab" if have else "wb") as out:
                done = have
                while block := resp.read(CHUNK):
                    out.write(block)
                    done += len(block)
                    if progress:
                        progress(done, total_n)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise DownloadError(
            f"download of {url} failed ({exc}); the partial file {part} is kept and the next run resumes it. "
            "Without a network, run with --model synthetic --dataset synthetic."
        ) from exc
    got = file_md5(part)
    if got != md5:
        part.unlink(missing_ok=True)
        raise DownloadError(
            f"checksum mismatch for {url}: expected md5 {md5}, got {got}; the file was deleted. "
            "Check the URL or the mirror you use."
        )
    os.replace(part, dest)
    return dest
