"""Generated stand-ins: a model of the official architecture with random weights, paired with a dataset it
labels itself, for machines without the network or the data. A pair is cached and made again when the code that
makes it changes; everything in it is labelled synthetic (``PROVENANCE.json`` in the dataset folder)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchfleet.cachelock import locked

PROVENANCE = "PROVENANCE.json"


def picture(rng: np.random.Generator, size: tuple[int, int], margin: int, smallest: int):
    """A JPEG-friendly picture (a PIL RGB image) of a random width and height in ``size``: a colour gradient with
    2 to 6 random ellipses and rectangles, each at least ``smallest`` pixels wide and high, starting at least
    ``margin`` pixels from the right and bottom edges."""
    from PIL import Image, ImageDraw

    w, h = int(rng.integers(*size)), int(rng.integers(*size))
    c0, c1 = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    t = np.linspace(0.0, 1.0, w, dtype=np.float32)[None, :, None]
    grad = (c0[None, None, :] * (1 - t) + c1[None, None, :] * t).repeat(h, axis=0)
    img = Image.fromarray(grad.astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(2, 7))):
        x0, y0 = int(rng.integers(0, w - margin)), int(rng.integers(0, h - margin))
        x1 = x0 + int(rng.integers(smallest, max(smallest + 1, w // 2)))
        y1 = y0 + int(rng.integers(smallest, max(smallest + 1, h // 2)))
        fill = tuple(int(v) for v in rng.integers(0, 256, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)([x0, y0, x1, y1], fill=fill)
    return img


@dataclass(frozen=True)
class SyntheticPair:
    model_path: Path
    dataset_dir: Path
    provenance: dict


def cached_pair(base: Path, model_name: str, data_name: str, make: Callable[[Path, Path], SyntheticPair],
                version: str, log: Callable[[str], None] = print) -> SyntheticPair:
    """The generated pair under ``base``: reused when its provenance file (written last) says it was made by
    generator ``version``, else removed and made again by ``make(model_path, data_dir)``; one maker at a time
    across processes sharing the cache. ``version`` names the code that makes the pair (``code_version``)."""
    with locked(base):
        model_path, data_dir = base / model_name, base / data_name
        meta = data_dir / PROVENANCE
        if model_path.is_file() and meta.is_file():
            provenance = json.loads(meta.read_text())
            made_by = provenance.get("generator_version")
            if made_by == version:
                return SyntheticPair(model_path, data_dir, provenance)
            log(f"the generated pair in {base} was made by generator version {made_by or 'unknown (older code)'}, "
                f"this code is {version}: making it again")
        model_path.unlink(missing_ok=True)
        if data_dir.exists():
            shutil.rmtree(data_dir)
        pair = make(model_path, data_dir)
        provenance = {**pair.provenance, "generator_version": version}
        tmp = meta.with_name(meta.name + ".tmp")
        tmp.write_text(json.dumps(provenance, indent=2))
        tmp.replace(meta)
        return SyntheticPair(pair.model_path, pair.dataset_dir, provenance)


_SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "be", "da", "fi", "go", "hu", "je", "po", "zu"]


def words(rng: np.random.Generator, n: int, syllables: tuple[int, int] = (1, 3)) -> list[str]:
    """``n`` distinct made-up words of ``syllables`` (inclusive range) syllables each."""
    out: list[str] = []
    seen: set[str] = set()
    while len(out) < n:
        w = "".join(rng.choice(_SYLLABLES, size=int(rng.integers(syllables[0], syllables[1] + 1))))
        if w not in seen:
            seen.add(w)
            out.append(w)
    return out
