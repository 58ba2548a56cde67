"""Generated images in the ImageNet validation layout (labels are written later)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from benchfleet.benchmarks.generated import picture


def image_name(i: int) -> str:
    return f"ILSVRC2012_val_{i + 1:08d}.JPEG"


def generate_image(rng: np.random.Generator) -> Image.Image:
    """A JPEG-friendly picture: a colour gradient with random shapes, 240 to 399 pixels a side."""
    return picture(rng, (240, 400), margin=20, smallest=15)


def write_images(root: Path, count: int, seed: int) -> list[str]:
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    names = []
    for i in range(count):
        name = image_name(i)
        generate_image(rng).save(root / name, "JPEG", quality=90)
        names.append(name)
    return names
