"""The chunk cache: reuse across runs, recompute of corrupt entries, budgets, resume after a kill."""
from __future__ import annotations

import re
import signal
import subprocess
import sys
import textwrap
from fractions import Fraction

import numpy as np
import pytest

from filmrestore.filmlib.cache import ChunkCache, configure_cache, parse_bytes
from filmrestore.filmlib.clip import ArrayFilm
from test_clip import Invert
from conftest import moving_frames


def test_second_process_reuses_disk_chunks(isolated, tmp_path):
    src = ArrayFilm(moving_frames(30), Fraction(24))
    first = Invert(src, {}).read(0, 30)
    assert isolated.stats.computed["invert"] == 30
    fresh = configure_cache(tmp_path / "cache", "256M", "2G")  # a new process: empty memory, same folder
    again = Invert(src, {}).read(0, 30)
    assert np.array_equal(first, again)
    assert fresh.stats.computed["invert"] == 0 and fresh.stats.disk_hits > 0


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_corrupt_cache_file_is_recomputed_not_used(isolated, tmp_path, damage):
    src = ArrayFilm(moving_frames(10), Fraction(24))
    good = Invert(src, {}).read(0, 10)
    files = list((tmp_path / "cache").glob("*/*.safetensors"))
    assert files
    for f in files:
        data = bytearray(f.read_bytes())
        if damage == "truncate":
            f.write_bytes(bytes(data[: len(data) // 2]))
        else:
            data[-10] ^= 0xFF
            f.write_bytes(bytes(data))
    fresh = configure_cache(tmp_path / "cache", "256M", "2G")
    again = Invert(src, {}).read(0, 10)
    assert np.array_equal(good, again)
    assert fresh.stats.corrupt == len(files) and fresh.stats.computed["invert"] == 10


def test_budgets_evict_least_recently_used(tmp_path):
    cache = ChunkCache(tmp_path / "c", ram_bytes=3000, disk_bytes=5000)
    for k in range(10):
        cache.put(f"k{k:02d}", np.full((1000,), k, np.uint8))
    assert cache.info()["memory_bytes"] <= 3000
    assert cache.info()["disk_bytes"] <= 5000
    cache.clear_memory()
    assert cache.get("k00") is None and cache.get("k09") is not None


def test_parse_bytes():
    assert parse_bytes("512M") == 512 << 20 and parse_bytes("2GiB") == 2 << 30 and parse_bytes("100") == 100
    with pytest.raises(Exception, match="byte size"):
        parse_bytes("lots")


SCRIPT = textwrap.dedent("""
    import sys, time
    from fractions import Fraction
    import numpy as np
    from filmrestore.filmlib.cache import configure_cache
    from filmrestore.filmlib.clip import ArrayFilm, FrameStage
    class Slow(FrameStage):
        name = "slow"
        def process_frame(self, frame, index):
            time.sleep(float(sys.argv[2]))
            return 255 - frame
    import filmrestore.filmlib.clip as clip
    clip.CHUNK_BYTES = 4 * 256 * 256 * 3  # 4-frame chunks, so the kill lands between chunks
    cache = configure_cache(sys.argv[1], "64M", "1G")
    frames = np.tile(np.arange(40, dtype=np.uint8)[:, None, None, None], (1, 256, 256, 3))
    film = Slow(ArrayFilm(frames, Fraction(24)), {})
    for first, chunk in film.chunks(size=4):
        print(first, flush=True)
    print("computed", cache.stats.computed["slow"], flush=True)
""")


def test_killed_run_resumes_from_cached_chunks(tmp_path):
    script = tmp_path / "job.py"
    script.write_text(SCRIPT)
    cache_dir = tmp_path / "cache_kill"
    proc = subprocess.Popen([sys.executable, str(script), str(cache_dir), "0.05"], stdout=subprocess.PIPE, text=True)
    for _ in range(3):  # three chunks done: kill it hard, mid-run
        assert proc.stdout.readline(), "the job ended before it could be interrupted"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = subprocess.run([sys.executable, str(script), str(cache_dir), "0.0"], capture_output=True, text=True,
                          check=True)
    computed = int(done.stdout.strip().splitlines()[-1].split()[1])
    assert 0 < computed <= 40 - 12, f"resumed run recomputed {computed} of 40 frames"


def folder_hashes(folder):
    import hashlib
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def model_folder(root):
    """A folder of someone's model files, laid out like the cache's own entries would be."""
    root.mkdir()
    (root / "RealESRGAN_x4plus.safetensors").write_bytes(b"weights" * 1500)
    (root / "ab").mkdir()
    (root / "ab" / "abcd.safetensors").write_bytes(b"more weights" * 1000)
    return folder_hashes(root)


def test_a_folder_that_is_not_a_cache_is_never_used_or_cleared(tmp_path, caplog):
    from filmrestore.filmlib.errors import CacheError
    models = tmp_path / "models"
    before = model_folder(models)
    cache = configure_cache(models, "1M", "100K")  # one chunk fits; with the models it is over budget
    src = ArrayFilm(moving_frames(10), Fraction(24))
    out = Invert(src, {}).read(0, 10)
    assert np.array_equal(out, 255 - src.read(0, 10))
    assert folder_hashes(models) == before
    assert sum("not a filmrestore cache" in r.message for r in caplog.records) == 1
    with pytest.raises(CacheError, match="refusing to clear.*not a filmrestore cache.*FILMRESTORE_CACHE"):
        cache.clear()
    assert folder_hashes(models) == before


def test_clear_and_eviction_touch_only_the_cache_s_own_entries(tmp_path):
    cache = ChunkCache(tmp_path / "c", ram_bytes=0, disk_bytes=5000)
    cache.put("k00", np.zeros(1000, np.uint8))
    assert (tmp_path / "c" / "FILMRESTORE_CACHE.txt").is_file()
    (tmp_path / "c" / "k0" / "notes.txt").write_text("mine")
    (tmp_path / "c" / "weights").mkdir()
    (tmp_path / "c" / "weights" / "x.safetensors").write_bytes(b"w" * 9000)
    for k in range(1, 10):
        cache.put(f"k{k:02d}", np.full((1000,), k, np.uint8))
    assert cache.get("k09") is not None and cache.get("k00") is None      # LRU eviction still works
    assert cache.clear() > 0
    left = sorted(p.relative_to(tmp_path / "c").as_posix() for p in (tmp_path / "c").rglob("*"))
    assert left == ["FILMRESTORE_CACHE.txt", "k0", "k0/notes.txt", "weights", "weights/x.safetensors"]


def test_a_cache_written_before_the_marker_existed_is_adopted(tmp_path):
    old = tmp_path / "old"
    (old / "ab").mkdir(parents=True)
    (old / "ab" / "ab12-3-0.safetensors").write_bytes(b"an entry of the marker-less version")
    cache = ChunkCache(old, "1M", "1G")
    cache.put("cd34-3-0", np.zeros(10, np.uint8))
    assert (old / "FILMRESTORE_CACHE.txt").is_file() and cache.clear() > 0
    assert not (old / "ab").exists()


def test_swapped_or_edited_chunks_are_corrupt_entries_recomputed(isolated, tmp_path, monkeypatch, caplog):
    import filmrestore.filmlib.clip as clip
    from safetensors.numpy import load_file, save_file
    monkeypatch.setattr(clip, "CHUNK_BYTES", 5 * 48 * 64 * 3)   # 5-frame chunks
    src = ArrayFilm(moving_frames(15), Fraction(24))
    good = Invert(src, {}).read(0, 15)
    files = sorted((tmp_path / "cache").glob("*/*.safetensors"))
    assert len(files) == 3
    a, b = files[0].read_bytes(), files[1].read_bytes()
    files[0].write_bytes(b)                                     # two entries swapped
    files[1].write_bytes(a)
    edited = load_file(str(files[2]))["frames"][:4].astype(np.uint16)   # shape and dtype edited
    save_file({"frames": edited}, str(files[2]), metadata={"crc32": "0"})
    fresh = configure_cache(tmp_path / "cache", "256M", "2G")
    again = Invert(src, {}).read(0, 15)
    assert np.array_equal(again, good) and again.dtype == np.uint8
    assert fresh.stats.corrupt == 3 and fresh.stats.computed["invert"] == 15
    assert any("holds the entry for key" in r.message for r in caplog.records)
    assert configure_cache(tmp_path / "cache", "256M", "2G") and np.array_equal(Invert(src, {}).read(0, 15), good)


@pytest.mark.parametrize("fault", ["disk full", "read-only", "a file in the way"])
def test_a_failing_cache_write_warns_once_and_the_run_goes_on(tmp_path, monkeypatch, caplog, fault):
    import errno
    import safetensors.numpy
    import filmrestore.filmlib.clip as clip
    monkeypatch.setattr(clip, "CHUNK_BYTES", 2 * 48 * 64 * 3)
    folder = tmp_path / "cache_fault"
    if fault == "a file in the way":
        folder.write_text("I am a file")
    else:
        code = errno.ENOSPC if fault == "disk full" else errno.EROFS

        def refuse(*args, **kwargs):
            raise OSError(code, "No space left on device" if code == errno.ENOSPC else "Read-only file system")
        monkeypatch.setattr(safetensors.numpy, "save_file", refuse)
    cache = configure_cache(folder, "256M", "2G")
    src = ArrayFilm(moving_frames(12), Fraction(24))
    assert np.array_equal(Invert(src, {}).read(0, 12), 255 - src.read(0, 12))   # six chunks, all computed
    warnings = [r.message for r in caplog.records if "without the disk cache" in r.message]
    assert len(warnings) == 1 and "FILMRESTORE_CACHE" in warnings[0]
    assert cache.stats.computed["invert"] == 12
    if fault == "a file in the way":
        assert folder.read_text() == "I am a file"


@pytest.mark.parametrize("text", ["abc", "-1G", "inf", "nan", "12Q"])
def test_bad_budgets_name_the_setting(text):
    from filmrestore.filmlib.errors import CacheError
    with pytest.raises(CacheError, match=r"--cache-disk: .*" + re.escape(repr(text))):
        parse_bytes(text, "--cache-disk")


def test_cache_clear_says_what_it_will_delete(tmp_path, capsys):
    from filmrestore.cli import main as cli_main
    folder = tmp_path / "c"
    cache = ChunkCache(folder, "1M", "1G")
    for k in range(3):
        cache.put(f"k{k:02d}", np.zeros(2 ** 20, np.uint8))
    (folder / "README.txt").write_text("mine")
    assert cli_main(["--cache-dir", str(folder), "cache", "clear", "--dry-run"]) == 0
    said = capsys.readouterr().out
    assert f"would delete 3 chunk files (3.0 MiB) in {folder}" in said and len(list(folder.glob("*/*"))) == 3
    assert cli_main(["--cache-dir", str(folder), "cache", "clear"]) == 0
    assert "3.0 MiB freed" in capsys.readouterr().out
    assert sorted(p.name for p in folder.rglob("*")) == ["FILMRESTORE_CACHE.txt", "README.txt"]
