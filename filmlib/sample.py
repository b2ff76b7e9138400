"""A sample clip to restore: photographs from scikit-image's bundled data, filmed by a moving camera, cut into
shots, then aged by the degradation model. Also the ground truth (clean frames, weave offsets, cuts)."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from .clip import ArrayFilm
from .degrade import DegradeParams, DegradeStage, truth_for
from .errors import InputError

# scikit-image ships these in its wheel (no download): natural photographs of distinct content
SHOT_IMAGES = ("astronaut.png", "coffee.png", "rocket.jpg", "chelsea.png", "motorcycle_left.png")


@dataclass(frozen=True)
class SampleSpec:
    width: int = 480
    height: int = 360
    fps: Fraction = Fraction(16)
    shot_frames: tuple[int, ...] = (24, 20, 28, 22, 26)
    seed: int = 1


def load_photo(name: str) -> np.ndarray:
    """A photograph bundled with scikit-image as (H, W, 3) uint8 RGB."""
    import skimage
    from skimage import io
    img = io.imread(os.path.join(os.path.dirname(skimage.__file__), "data", name))
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    return np.ascontiguousarray(img[..., :3]).astype(np.uint8)


def camera_move(photo: np.ndarray, width: int, height: int, frames: int, rng: np.random.Generator,
                times: np.ndarray | None = None) -> np.ndarray:
    """Render ``frames`` views of ``photo`` along a smooth pan-and-zoom camera path, (n, height, width, 3) uint8.

    ``times`` (in [0, 1]) places each frame on the path; default evenly spaced.
    """
    import cv2
    ph, pw = photo.shape[:2]
    base = max(width / pw, height / ph) * 1.25      # the view covers the frame with room to move
    z0, z1 = base, base * rng.uniform(1.0, 1.15)
    # pan across at most the slack between the zoomed photo and the frame
    slack_x, slack_y = pw * z0 - width, ph * z0 - height
    sx, sy = rng.uniform(0.1, 0.4) * slack_x, rng.uniform(0.1, 0.4) * slack_y
    ex, ey = sx + rng.uniform(0.3, 0.6) * slack_x * rng.choice([-1, 1]), sy + rng.uniform(0.1, 0.4) * slack_y
    ex, ey = float(np.clip(ex, 0, slack_x * 0.9)), float(np.clip(ey, 0, slack_y * 0.9))
    times = np.linspace(0, 1, frames) if times is None else times
    out = np.empty((len(times), height, width, 3), np.uint8)
    for i, t in enumerate(times):
        s = 0.5 - 0.5 * np.cos(np.pi * t)           # ease in and out, like a real pan
        z = z0 + (z1 - z0) * s
        tx, ty = -(sx + (ex - sx) * s), -(sy + (ey - sy) * s)
        m = np.float32([[z, 0, tx], [0, z, ty]])
        out[i] = cv2.warpAffine(photo, m, (width, height), flags=cv2.INTER_AREA if z < 1 else cv2.INTER_CUBIC,
                                borderMode=cv2.BORDER_REFLECT)
    return out


def clean_clip(spec: SampleSpec = SampleSpec()) -> tuple[np.ndarray, list[int]]:
    """The clean clip (n, H, W, 3) uint8 and the frame indices where a new shot starts (cuts)."""
    rng = np.random.default_rng(spec.seed)
    shots, cuts, pos = [], [], 0
    for k, n in enumerate(spec.shot_frames):
        photo = load_photo(SHOT_IMAGES[k % len(SHOT_IMAGES)])
        shots.append(camera_move(photo, spec.width, spec.height, n, rng))
        if k:
            cuts.append(pos)
        pos += n
    return np.concatenate(shots), cuts


def reference_photo(photo: np.ndarray, width: int, height: int) -> np.ndarray:
    """A colour reference for a shot of ``photo``: mirrored and framed wider than the camera ever shows it
    (the whole photo scaled to cover the frame, centred), so it has the shot's colours but none of its
    frames; (height, width, 3) uint8."""
    import cv2
    ph, pw = photo.shape[:2]
    z = max(width / pw, height / ph)
    x0, y0 = (pw * z - width) / 2.0, (ph * z - height) / 2.0
    m = np.float32([[z, 0, -x0], [0, z, -y0]])
    view = cv2.warpAffine(photo, m, (width, height), flags=cv2.INTER_AREA if z < 1 else cv2.INTER_CUBIC,
                          borderMode=cv2.BORDER_REFLECT)
    return np.ascontiguousarray(view[:, ::-1])


def write_references(folder: Path, spec: SampleSpec) -> Path:
    """``folder/ref_0001.png``...: one colour reference per shot, in shot order, all of the clip's size (read
    them with FilmLoadVideo as an image sequence, then FilmToImages)."""
    import cv2
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(len(spec.shot_frames)):
        ref = reference_photo(load_photo(SHOT_IMAGES[k % len(SHOT_IMAGES)]), spec.width, spec.height)
        path = folder / f"ref_{k + 1:04d}.png"
        tmp = folder / f".ref_{k + 1:04d}.partial-{os.getpid()}.png"
        if not cv2.imwrite(str(tmp), cv2.cvtColor(ref, cv2.COLOR_RGB2BGR)):
            raise InputError(f"cannot write the sample's reference photo {path}: check the folder is writable")
        os.replace(tmp, path)
    return folder


def make_sample(folder: str | os.PathLike, spec: SampleSpec = SampleSpec(),
                degrade: DegradeParams = DegradeParams(seed=7), overwrite: bool = True) -> dict[str, Path]:
    """Write ``old_film.mp4`` (degraded, 16 fps), ``clean.mkv`` (lossless clean frames), ``truth.json`` and
    ``references/ref_0001.png``... (a colour photo per shot, for FilmReferenceColorize)."""
    from .errors import EncodeError
    from .io.output_path import make_folder, write_problem
    from .io.writer import save_film
    folder = Path(folder)
    try:
        make_folder(folder)
    except EncodeError as exc:
        raise InputError(f"cannot make the sample: {exc}") from None
    frames, cuts = clean_clip(spec)
    clean = ArrayFilm(frames, spec.fps, name="clean")
    old = DegradeStage(clean, degrade)
    paths = {"old_film": folder / "old_film.mp4", "clean": folder / "clean.mkv", "truth": folder / "truth.json"}
    save_film(old, paths["old_film"], "h264-mp4", crf=16, overwrite=overwrite)
    save_film(clean, paths["clean"], "ffv1-mkv", overwrite=overwrite)
    truth = truth_for(degrade, len(frames))
    truth.update({"cuts": cuts, "fps": str(spec.fps), "frame_count": len(frames),
                  "size": [spec.width, spec.height], "shot_images": list(SHOT_IMAGES)})
    tmp = paths["truth"].with_name(f".truth.json.partial-{os.getpid()}")
    try:
        tmp.write_text(json.dumps(truth, indent=1))
        os.replace(tmp, paths["truth"])
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise InputError(write_problem(exc, paths["truth"])) from exc
    try:
        paths["references"] = write_references(folder / "references", spec)
    except OSError as exc:
        raise InputError(write_problem(exc, folder / "references")) from exc
    return paths


def rate_pair(width: int = 640, height: int = 480, frames_24: int = 48, seed: int = 3,
              photo: str = "astronaut.png", moving_object: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """One camera move filmed at 24 fps (the truth) and at 16 fps (the input to interpolate back to 24).

    Both are rendered from the same continuous path, so the 16 fps frames sit exactly at times p/16 and the
    24 fps frames at k/24; every third 24 fps frame coincides with a 16 fps frame, the others are the ground
    truth of interpolation.
    """
    rng = np.random.default_rng(seed)
    ticks = 2 * frames_24            # a 48 Hz clock holds both rates: 24 fps = every 2nd tick, 16 fps = every 3rd
    span = float(ticks)
    times24 = np.arange(0, ticks, 2) / span
    times16 = np.arange(0, ticks, 3) / span
    img = load_photo(photo)
    times = np.concatenate([times24, times16])
    both = camera_move(img, width, height, 0, rng, times=times)
    if moving_object:
        _add_moving_object(both, times, rng)
    return both[: len(times24)], both[len(times24):]


def _add_moving_object(frames: np.ndarray, times: np.ndarray, rng: np.random.Generator) -> None:
    """Paste a disc cut from another photograph that crosses the frame against the camera move (occlusions)."""
    import cv2
    h, w = frames.shape[1:3]
    r = int(min(h, w) * 0.18)
    patch = cv2.resize(load_photo("coffee.png"), (2 * r, 2 * r), interpolation=cv2.INTER_AREA).astype(np.float32)
    mask = np.zeros((2 * r, 2 * r), np.float32)
    cv2.circle(mask, (r, r), r - 1, 1.0, -1, cv2.LINE_AA)
    x0, y0 = rng.uniform(0.1, 0.2) * w, rng.uniform(0.3, 0.5) * h
    x1, y1 = rng.uniform(0.6, 0.8) * w, rng.uniform(0.4, 0.6) * h
    for f, t in zip(frames, times):
        cx, cy = x0 + (x1 - x0) * t, y0 + (y1 - y0) * t
        m = np.float32([[1, 0, cx - r], [0, 1, cy - r]])
        obj = cv2.warpAffine(patch, m, (w, h), flags=cv2.INTER_LINEAR)
        alpha = cv2.warpAffine(mask, m, (w, h), flags=cv2.INTER_LINEAR)[..., None]
        f[:] = np.clip(f * (1 - alpha) + obj * alpha + 0.5, 0, 255).astype(np.uint8)
