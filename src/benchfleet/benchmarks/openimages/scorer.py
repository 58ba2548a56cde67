"""mAP as the reference's ``tools/accuracy-openimages.py`` computes it from LoadGen's accuracy log.

For each log entry (the first of each ``qsl_idx``: duplicates are ignored), the response's float32 values are
read 7 at a time ``[index, ymin, xmin, ymax, xmax, score, label]``; the image is
``annotations["images"][qsl_idx]``; the box is scaled by that image's height and width in float32 and written
for pycocotools as ``[xmin, ymin, xmax - xmin, ymax - ymin]``, the category as ``int(label)`` (no inverse label
map: the reference runs without ``--use-inv-map``). An entry with fewer than 7 values (no detection) still puts
its image in the evaluation. ``COCOeval(iouType="bbox")`` over exactly the images of the log; the metric is
``stats[0]`` (AP at IoU 0.50:0.95, all areas, 100 detections), printed ``mAP={:.3f}%`` of 100 x stats[0].
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np


def detections(entries: list[dict], images: list[dict]) -> tuple[list[dict], list[int]]:
    """The detections for pycocotools and the ids of the images the log covers (in the script's order)."""
    dets: list[dict] = []
    image_ids: dict[int, None] = {}  # insertion-ordered set
    seen: set[int] = set()
    for e in entries:
        idx = int(e["qsl_idx"])
        if idx in seen:
            continue
        seen.add(idx)
        data = np.frombuffer(bytes.fromhex(e["data"]), np.float32)
        image = images[idx]
        if len(data) < 7:
            image_ids[image["id"]] = None
            continue
        height, width = image["height"], image["width"]
        for i in range(0, len(data) - len(data) % 7, 7):
            _, ymin, xmin, ymax, xmax, score, label = data[i:i + 7]
            ymin, xmin = ymin * np.float32(height), xmin * np.float32(width)
            ymax, xmax = ymax * np.float32(height), xmax * np.float32(width)
            dets.append({"image_id": image["id"], "category_id": int(label),
                         "bbox": [float(xmin), float(ymin), float(xmax - xmin), float(ymax - ymin)],
                         "score": float(score)})
            image_ids[image["id"]] = None
    return dets, list(image_ids)


def coco_map(annotations: str | Path | dict, dets: list[dict], image_ids: list[int]) -> float:
    """COCOeval's stats[0] (a fraction) over ``image_ids``; 0.0 when there is no detection at all (the
    reference's loadRes fails on an empty list)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = annotations if isinstance(annotations, dict) else _load(annotations)
        gt.createIndex()
        if not dets:
            return 0.0
        dt = gt.loadRes([dict(d, bbox=list(d["bbox"])) for d in dets])
        ev = COCOeval(gt, dt, iouType="bbox")
        ev.params.imgIds = list(image_ids)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return float(ev.stats[0])


def _load(path: str | Path) -> dict:
    import json

    return json.loads(Path(path).read_text())


def score_log(entries: list[dict], annotations: str | Path) -> dict[str, float]:
    """``{"mAP": percent, "images": n, "detections": n}`` for an accuracy log."""
    data = _load(annotations)
    dets, ids = detections(entries, data["images"])
    return {"mAP": 100.0 * coco_map(data, dets, ids), "images": len(ids), "detections": len(dets)}


def accuracy_line(m_ap: float) -> str:
    """The line accuracy-openimages.py prints, which the checker's ``^mAP=([\\d\\.]+).*`` reads."""
    return f"mAP={m_ap:.3f}%"
