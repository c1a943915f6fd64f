#!/usr/bin/env python3
"""Draws the installable app's icons (web/static/icons/*.png) once; the PNGs are committed.

A white leaf with its midrib and veins on the app's accent colour (app.css --accent).
The maskable icon fills its square and keeps the leaf inside the central 80 % safe zone.
Run: python3 scripts/make_icons.py (needs Pillow).
"""
import math
from pathlib import Path

from PIL import Image, ImageDraw

ACCENT = (11, 92, 115)  # --accent #0b5c73
LEAF = (255, 255, 255)
OUT = Path(__file__).resolve().parent.parent / "web" / "static" / "icons"
SCALE = 4  # drawn large, then reduced, for smooth edges


def leaf(draw, cx, cy, length, width, angle):
    """A pointed leaf: two arcs meeting at base and tip, with a midrib and veins."""
    cos, sin = math.cos(angle), math.sin(angle)

    def at(u, v):  # u along the leaf (-1 base .. 1 tip), v across it
        x, y = u * length / 2, v * width / 2
        return (cx + x * cos - y * sin, cy + x * sin + y * cos)

    steps = 120
    outline = [at(-1 + 2 * i / steps, math.sin(math.pi * i / steps) ** 0.8) for i in range(steps + 1)]
    outline += [at(1 - 2 * i / steps, -math.sin(math.pi * i / steps) ** 0.8) for i in range(1, steps)]
    draw.polygon(outline, fill=LEAF)
    rib = max(2, int(width * 0.045))
    draw.line([at(-1.18, 0), at(0.9, 0)], fill=ACCENT, width=rib)
    for u in (-0.55, -0.2, 0.15, 0.48):
        for side in (1, -1):
            draw.line([at(u, 0), at(u + 0.3, side * 0.62)], fill=ACCENT, width=max(2, rib * 2 // 3))
    # The stalk, below the base.
    draw.line([at(-1.0, 0), at(-1.3, 0)], fill=LEAF, width=rib * 2)


def icon(size, maskable):
    big = size * SCALE
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    if maskable:
        draw.rectangle([0, 0, big, big], fill=ACCENT)
        extent = 0.56  # of the side, well inside the 80 % safe circle
    else:
        draw.rounded_rectangle([0, 0, big - 1, big - 1], radius=big * 0.22, fill=ACCENT)
        extent = 0.72
    length = big * extent
    leaf(draw, big / 2, big / 2, length, length * 0.46, -math.pi / 4)
    return image.resize((size, size), Image.LANCZOS)


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    icon(192, False).save(OUT / "icon-192.png", optimize=True)
    icon(512, False).save(OUT / "icon-512.png", optimize=True)
    icon(512, True).save(OUT / "icon-maskable-512.png", optimize=True)


if __name__ == "__main__":
    main()
