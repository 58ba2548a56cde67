"""LoadGen accuracy logs: reading one, and truncating it with its hash line as the rules ask."""

from __future__ import annotations

import json
from pathlib import Path

from benchfleet.digest import sha256_file

VIEWABLE = 4096


def read_accuracy_log(path: str | Path) -> list[dict]:
    text = Path(path).read_text()
    return json.loads(text) if text.strip() else []


def truncate_with_hash(acc_log: Path, accuracy_txt: Path) -> str:
    """Append ``hash=<sha256>`` of the full log to accuracy.txt, then keep 4 KiB head + tail."""
    digest = sha256_file(acc_log)
    with open(accuracy_txt, "a") as f:
        f.write(f"hash={digest}\n")
    size = acc_log.stat().st_size
    if size >= VIEWABLE:
        data = acc_log.read_bytes()
        acc_log.write_bytes(data[:VIEWABLE] + b"\n\n...\n\n" + data[-VIEWABLE:])
    return digest
