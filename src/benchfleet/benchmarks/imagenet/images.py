"""Generated images in the ImageNet validation layout (labels are written later)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw


def image_name(i: int) -> str:
    return f"ILSVRC2012_val_{i + 1:08d}.JPEG"


def generate_image(rng: np.random.Generator) -> Image.Image:
    """A JPEG-friendly picture: a colour gradient with random shapes, random size."""
    w, h = int(rng.integers(240, 400)), int(rng.integers(240, 400))
    c0, c1 = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    t = np.linspace(0.0, 1.0, w, dtype=np.float32)[None, :, None]
    grad = (c0[None, None, :] * (1 - t) + c1[None, None, :] * t).repeat(h, axis=0)
    img = Image.fromarray(grad.astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(2, 7))):
        x0, y0 = int(rng.integers(0, w - 20)), int(rng.integers(0, h - 20))
        x1, y1 = x0 + int(rng.integers(15, w // 2)), y0 + int(rng.integers(15, h // 2))
        fill = tuple(int(v) for v in rng.integers(0, 256, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)([x0, y0, x1, y1], fill=fill)
    return img


def write_images(root: Path, count: int, seed: int) -> list[str]:
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    names = []
    for i in range(count):
        name = image_name(i)
        generate_image(rng).save(root / name, "JPEG", quality=90)
        names.append(name)
    return names
