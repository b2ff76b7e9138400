"""The chunk cache: reuse across runs, recompute of corrupt entries, budgets, resume after a kill."""
from __future__ import annotations

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
