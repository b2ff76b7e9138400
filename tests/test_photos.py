"""FilmLoadPhotos: reference photos from a file or a folder, as one IMAGE batch in name order."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from filmrestore.nodes.photos_node import FilmLoadPhotos


def _write(path: Path, img: np.ndarray) -> None:
    import cv2
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), img[..., ::-1] if img.ndim == 3 else img)


def test_a_folder_loads_in_name_order_fitted_to_the_first_size(tmp_path):
    folder = Path(tmp_path / "input" / "refs")
    red = np.zeros((60, 80, 3), np.uint8); red[..., 0] = 200
    blue = np.zeros((120, 80, 3), np.uint8); blue[..., 2] = 180      # portrait: letterboxed into 80x60
    gray16 = np.full((60, 80), 40000, np.uint16)
    _write(folder / "ref_10.png", gray16)
    _write(folder / "ref_2.png", blue)
    _write(folder / "ref_1.png", red)
    (folder / "notes.txt").write_text("not a photo")
    assert "refs/" in FilmLoadPhotos.INPUT_TYPES()["required"]["photos"][0]
    assert FilmLoadPhotos.VALIDATE_INPUTS("refs/") is True
    images, count = FilmLoadPhotos().load("refs/")
    arr = images.numpy()
    assert count == 3 and arr.shape == (3, 60, 80, 3)
    assert arr[0, 30, 40, 0] == pytest.approx(200 / 255, abs=1e-3)                  # ref_1 first
    assert arr[1, 30, 40, 2] == pytest.approx(180 / 255, abs=1e-2) and arr[1, 30, 2].max() == 0  # ref_2, bars
    assert arr[2, 30, 40].tolist() == pytest.approx([40000 / 65535] * 3, abs=1e-4)   # 16-bit kept
    one, n = FilmLoadPhotos().load("refs/ref_2.png")
    assert n == 1 and tuple(one.shape) == (1, 120, 80, 3)


def test_nothing_there_is_a_clear_message(tmp_path):
    (tmp_path / "input" / "empty").mkdir(parents=True)
    assert "no photos" in FilmLoadPhotos.VALIDATE_INPUTS("empty/")
    assert "no photos" in FilmLoadPhotos.VALIDATE_INPUTS("missing.png")
    assert "no photos chosen" in FilmLoadPhotos.VALIDATE_INPUTS("")
