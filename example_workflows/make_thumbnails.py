"""Thumbnails for the template browser: ``python example_workflows/make_thumbnails.py BEFORE.mp4 AFTER.mp4``.

Each ``NAME.json`` gets ``NAME.jpg``: one frame of the old film beside the same frame restored, over a band that
lists the workflow's stages in order. BEFORE is the sample clip (``python -m filmrestore sample``), AFTER what
``make restore`` wrote from it (the weight-free job); the pictures are real output, the stage list is the
workflow's own.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

HERE = Path(__file__).parent
SIZE = (512, 384)   # what the template browser shows (4:3 cards)
SKIP = {"FilmLoadVideo", "FilmSaveVideo", "FilmToImages", "FilmFromImages"}


def frame_at(path: str, index: int) -> Image.Image:
    import av
    with av.open(path) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i == index:
                return f.to_image()
    raise ValueError(f"{path} has fewer than {index + 1} frames")


def stage_chain(workflow: dict) -> list[str]:
    """The workflow's processing nodes in pipeline order: by the longest chain of links leading to each."""
    nodes = {n["id"]: n for n in workflow["nodes"]}
    preds: dict[int, list[int]] = {nid: [] for nid in nodes}
    for link in workflow["links"]:
        if link[3] in preds and link[1] in nodes:
            preds[link[3]].append(link[1])
    depth: dict[int, int] = {}

    def level(nid: int) -> int:
        if nid not in depth:
            depth[nid] = 0  # a cycle cannot happen in a valid graph; this only stops recursion on one
            depth[nid] = 1 + max((level(p) for p in preds[nid]), default=-1)
        return depth[nid]

    names = []
    for nid in sorted(nodes, key=lambda n: (level(n), n)):
        n = nodes[nid]
        label = n.get("title") or n["type"].removeprefix("Film")
        if n["type"] not in SKIP and n.get("mode", 0) == 0 and label not in names:
            names.append(label)
    return names


def thumbnail(before: Image.Image, after: Image.Image, stages: list[str]) -> Image.Image:
    w, h = SIZE
    band = 92
    pic_h = h - band
    canvas = Image.new("RGB", SIZE, (24, 20, 16))
    half = w // 2
    for k, img in enumerate((before, after)):
        img = img.convert("RGB")
        scale = max(half / img.width, pic_h / img.height)
        img = img.resize((round(img.width * scale), round(img.height * scale)), Image.LANCZOS)
        x0, y0 = (img.width - half) // 2, (img.height - pic_h) // 2
        canvas.paste(img.crop((x0, y0, x0 + half, y0 + pic_h)), (k * half, 0))
    draw = ImageDraw.Draw(canvas)
    draw.line([(half, 0), (half, pic_h)], fill=(230, 170, 60), width=3)
    font = ImageFont.load_default(size=15) if hasattr(ImageFont, "load_default") else None
    small = ImageFont.load_default(size=13) if font is not None else None
    draw.text((8, 6), "before", fill=(255, 255, 255), font=font, stroke_width=2, stroke_fill=(0, 0, 0))
    draw.text((half + 8, 6), "after", fill=(255, 255, 255), font=font, stroke_width=2, stroke_fill=(0, 0, 0))
    text, lines = "", []
    for s in stages:  # wrap the chain "A -> B -> C" over the band's lines
        piece = s if not text else f"{text} > {s}"
        if draw.textlength(piece, font=small) > w - 16 and text:
            lines.append(text + " >")
            text = s
        else:
            text = piece
    lines.append(text)
    for i, line in enumerate(lines[:5]):
        draw.text((8, pic_h + 6 + i * 17), line, fill=(240, 200, 120), font=small)
    return canvas


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__)
        return 2
    index = 12  # inside the first shot, after the loader's warm-up frames
    before, after = frame_at(argv[0], index), frame_at(argv[1], round(index * 24 / 16))
    for path in sorted(HERE.glob("*.json")):
        stages = stage_chain(json.loads(path.read_text()))
        thumbnail(before, after, stages).save(path.with_suffix(".jpg"), quality=88)
        print(f"wrote {path.with_suffix('.jpg')}: {' -> '.join(stages)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
