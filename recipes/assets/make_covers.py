"""Make the demo recipes' cover art: square 1400 x 1400 px RGB JPEGs (the smallest size Apple Podcasts
accepts; its published limits are 1400-3000 px, square, JPEG or PNG, RGB).

    python recipes/assets/make_covers.py        # writes recipes/assets/covers/*.jpg

Drawn with Pillow from shapes and Pillow's bundled font, so the output is the same on every machine with
the same Pillow; nothing is downloaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

SIZE_PX = 1400
HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Cover:
    """One show's cover: file name, lines of title text, and its two colours (RGB)."""

    name: str
    title: tuple[str, ...]
    subtitle: str
    background: tuple[int, int, int]
    accent: tuple[int, int, int]


COVERS = (
    Cover(
        "earnest.jpg", ("The Importance", "of Being", "Earnest"), "Oscar Wilde · Act I", (24, 42, 74), (232, 196, 120)
    ),
    Cover("night-shift.jpg", ("The Night", "Shift"), "a podcast from the small hours", (14, 16, 28), (120, 200, 220)),
    Cover("riders.jpg", ("Riders", "to the Sea"), "J. M. Synge · a radio play", (30, 52, 58), (214, 222, 210)),
)


def draw(cover: Cover) -> Image.Image:
    """The cover as a 1400 x 1400 RGB image: a framed field, concentric rings, the title and subtitle."""
    image = Image.new("RGB", (SIZE_PX, SIZE_PX), cover.background)
    pen = ImageDraw.Draw(image)
    centre = SIZE_PX // 2
    for index, radius in enumerate(range(620, 80, -90)):
        shade = tuple(
            int(b + (a - b) * (0.08 + 0.05 * index)) for a, b in zip(cover.accent, cover.background, strict=True)
        )
        pen.ellipse(
            (centre - radius, centre - radius - 180, centre + radius, centre + radius - 180), outline=shade, width=10
        )
    pen.rectangle((40, 40, SIZE_PX - 40, SIZE_PX - 40), outline=cover.accent, width=12)
    title_font = ImageFont.load_default(size=132)
    top = 760
    for line in cover.title:
        pen.text((centre, top), line, font=title_font, fill=cover.accent, anchor="mm")
        top += 150
    pen.text(
        (centre, SIZE_PX - 130), cover.subtitle, font=ImageFont.load_default(size=56), fill=(235, 235, 235), anchor="mm"
    )
    return image


def main() -> None:
    out = HERE / "covers"
    out.mkdir(exist_ok=True)
    for cover in COVERS:
        path = out / cover.name
        draw(cover).save(path, "JPEG", quality=88, optimize=True)
        print(f"{path.relative_to(HERE.parent)}: {path.stat().st_size // 1024} KiB")


if __name__ == "__main__":
    main()
