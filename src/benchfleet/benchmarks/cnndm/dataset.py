"""CNN/DailyMail as the reference's download_cnndm.py writes it: ``cnn_eval.json``, a list of records with
``instruction``, ``input`` (the article) and ``output`` (the reference summary)."""

from __future__ import annotations

import json
from pathlib import Path

EVAL_FILE = "cnn_eval.json"


def load_records(path: str | Path) -> list[dict]:
    return json.loads(Path(path).read_text(encoding="utf-8"))
