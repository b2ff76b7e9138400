"""Provenance: a sidecar JSON beside every saved output, so someone else can run the same job and get the same
result, and check that they did.

The sidecar is ``<output name>.provenance.json`` (``restored_00001.mp4.provenance.json``, or
``restored_00001.provenance.json`` for the sequence folder ``restored_00001``): the API workflow and the other
``extra_pnginfo`` (the UI workflow) exactly as the saver received them, each node's parameters, the chain of
stages, each input file (path, size, mtime, sha256, frames used), each model file (sha256, size, licence),
package versions and a hash of the pack's own code, the output (sha256 of the file, of the encoded video stream
and of the frames as written), which output frames interpolation synthesized and how many pixels a remaster
repaired per frame. :func:`check_sidecar` lists what differs on this machine; ``python -m filmrestore run
--replay`` uses it.
"""
from __future__ import annotations

import datetime
import hashlib
import json
import os
import platform
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from ..clip import ArrayFilm, Film, Stage
from ..errors import InputError
from .output_path import _take, write_problem

SIDECAR_SUFFIX = ".provenance.json"
SCHEMA = 1
PACKAGES = ("filmrestore", "torch", "torchvision", "numpy", "opencv-python", "opencv-python-headless", "av",
            "scipy", "spandrel", "safetensors", "scenedetect", "vidstab", "pillow")
PACK_ROOT = Path(__file__).resolve().parents[2]
SKIP_DIRS = {"tests", "benchmarks", "input", "output", "node_modules", "site-packages", "example_workflows"}

# (class_type, model input, models sub-folder, whether the node's inputs make it use that model)
MODEL_INPUTS: tuple[tuple[str, str, str, Callable[[Mapping[str, Any]], bool]], ...] = (
    ("FilmUpscale", "model_name", "upscale_models", lambda i: i.get("method") == "model"),
    ("FilmDeblur", "model_name", "upscale_models", lambda i: i.get("method") == "model"),
    ("FilmInterpolate", "rife_model", "rife", lambda i: i.get("method") == "rife"),
    ("FilmRemaster", "deepremaster_model", "deepremaster", lambda i: i.get("method") == "deepremaster"),
    ("FilmDeOldify", "model", "deoldify", lambda i: True),
    ("FilmReferenceColorize", "siggraph17_model", "colorization", lambda i: i.get("method") == "siggraph17"),
    ("UpscaleModelLoader", "model_name", "upscale_models", lambda i: True),   # ComfyUI core's loader
)

Locate = Callable[[str, str], Path]   # (models sub-folder, name) -> file; raises when missing


class ReplayMismatch(InputError):
    """The inputs or models on this machine are not the ones a sidecar records; ``problems`` lists each."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__(f"cannot replay: {len(problems)} difference{'s' if len(problems) != 1 else ''} from the "
                         f"recorded run (nothing was written; --force runs anyway):\n  " + "\n  ".join(problems))


def sidecar_path(output: str | os.PathLike) -> Path:
    """The sidecar of an output file or sequence folder."""
    p = Path(os.fspath(output).rstrip("/\\"))
    return p.with_name(p.name + SIDECAR_SUFFIX)


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_record(path: str | os.PathLike) -> dict[str, Any]:
    """Absolute path, size, mtime (ISO, UTC) and sha256 of a file."""
    st = os.stat(path)
    return {"path": os.path.abspath(path), "size": st.st_size, "mtime": _iso(st.st_mtime),
            "sha256": sha256_file(path)}


def _iso(t: float) -> str:
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).isoformat(timespec="seconds")


def package_versions() -> dict[str, str]:
    """Versions of the packages that decide the output (from their metadata: nothing is imported), FFmpeg's
    (PyAV's build), Python's and the machine's."""
    from importlib import metadata
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    import av
    out["ffmpeg"] = str(getattr(av, "ffmpeg_version_info", "unknown"))
    out["python"] = platform.python_version()
    out["platform"] = f"{platform.system()} {platform.machine()}"
    return out


def code_sha256(root: Path = PACK_ROOT) -> str:
    """One sha256 over the pack's own Python files (not tests, benchmarks or environments): differs whenever the
    code that computed the frames does, even between two checkouts of one version."""
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith((".", "_")) and d not in SKIP_DIRS]
        found += [Path(folder, f) for f in files if f.endswith(".py")]
    h = hashlib.sha256()
    for p in sorted(found):
        h.update(p.relative_to(root).as_posix().encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


# ---- the clip's graph: stages, inputs, interpolated frames, repairs ----

def _parents(film: Film) -> Iterator[Film]:
    for value in vars(film).values():
        if isinstance(value, Film):
            yield value
        elif isinstance(value, (list, tuple)):
            yield from (v for v in value if isinstance(v, Film))


def walk(film: Film) -> list[tuple[Film, bool]]:
    """Every clip ``film`` is computed from, itself first, each once; with whether every clip between it and
    ``film`` keeps the frame count (then its frame numbers are the output's)."""
    seen: dict[int, int] = {}
    out: list[tuple[Film, bool]] = []
    todo = [(film, True)]
    while todo:
        f, same = todo.pop()
        if id(f) in seen:
            if same and not out[seen[id(f)]][1]:
                out[seen[id(f)]] = (f, True)
            continue
        seen[id(f)] = len(out)
        out.append((f, same))
        todo.extend((p, same and len(p) == len(f)) for p in reversed(list(_parents(f))))
    return out


def _leaf_record(f: Film, resolved: Mapping[str, str]) -> dict[str, Any] | None:
    from .sequence_source import SequenceSource
    from .video_source import VideoSource
    if isinstance(f, VideoSource):
        rec = {"kind": "video", **file_record(f.path), "first_frame": f._first, "frames": len(f),
               "frames_in_file": len(f._index.keys)}
    elif isinstance(f, SequenceSource):
        rec = {"kind": "sequence", "path": os.path.abspath(os.path.dirname(f.files[0])), "frames": len(f),
               "files": [file_record(p) for p in f.files]}
    elif isinstance(f, ArrayFilm):
        return {"kind": "frames in memory", "label": f.label, "frames": len(f), "signature": f.signature}
    else:
        return None
    for nid, spec in resolved.items():
        spec = os.path.abspath(spec)
        if spec == rec["path"] or (rec["kind"] == "sequence" and rec["path"] in (spec, os.path.dirname(spec))):
            rec["node"], rec["spec"] = nid, spec
            break
    return rec


def models_used(prompt: Mapping[str, Any], locate: Locate) -> list[dict[str, Any]]:
    """Each model file the prompt's nodes load (by :data:`MODEL_INPUTS`), with sha256, size and licence."""
    from ...model_loaders.registry import by_filename
    out = []
    for nid, node in prompt.items():
        inputs = node.get("inputs") or {}
        for ctype, name, folder, uses in MODEL_INPUTS:
            value = inputs.get(name)
            if node.get("class_type") != ctype or not isinstance(value, str) or value == "none" or not uses(inputs):
                continue
            rec: dict[str, Any] = {"node": nid, "input": name, "folder": folder, "name": value}
            try:
                rec.update(file_record(locate(folder, value)))
            except (InputError, OSError) as exc:
                rec["missing"] = str(exc)
            info = by_filename(os.path.basename(value))
            if info is not None:
                rec.update(registry_name=info.name, license=info.license, non_commercial=info.non_commercial,
                           published_sha256=info.sha256)
            out.append(rec)
    return out


@dataclass
class RunContext:
    """What the saver knows about its run besides the clip: the API prompt and ``extra_pnginfo`` as ComfyUI
    passes them (None headless without a workflow), its node id, and resolvers for input names and models."""

    prompt: Mapping[str, Any] | None = None
    extra_pnginfo: Mapping[str, Any] | None = None
    node_id: str | None = None
    resolve_input: Callable[[str], str] = lambda name: name
    locate_model: Locate | None = None
    notes: dict[str, Any] = field(default_factory=dict)


def _input_nodes(ctx: RunContext) -> dict[str, str]:
    out = {}
    for nid, node in (ctx.prompt or {}).items():
        value = (node.get("inputs") or {}).get("video")
        if node.get("class_type") == "FilmLoadVideo" and isinstance(value, str) and value:
            try:
                out[nid] = ctx.resolve_input(value)
            except InputError:
                continue
    return out


def _photo_inputs(ctx: RunContext) -> list[dict[str, Any]]:
    """The files of the prompt's FilmLoadPhotos nodes: reference photos reach a clip as an IMAGE batch, which
    the clip's graph does not lead back to."""
    from .photos import photo_files
    out = []
    for nid, node in (ctx.prompt or {}).items():
        value = (node.get("inputs") or {}).get("photos")
        if node.get("class_type") == "FilmLoadPhotos" and isinstance(value, str) and value:
            try:
                spec = ctx.resolve_input(value)
                files = photo_files(spec)
            except InputError:
                continue
            out.append({"kind": "photos", "node": nid, "spec": os.path.abspath(spec),
                        "files": [file_record(f) for f in files]})
    return out


def _mask_outputs(prompt: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Savers in the prompt that write a FilmRemaster's defect mask (its output 1)."""
    out = []
    for nid, node in prompt.items():
        link = (node.get("inputs") or {}).get("film")
        if node.get("class_type") == "FilmSaveVideo" and isinstance(link, list) and len(link) == 2 and \
                link[1] == 1 and (prompt.get(str(link[0])) or {}).get("class_type") == "FilmRemaster":
            out.append({"remaster_node": str(link[0]), "saver_node": nid,
                        "filename_prefix": node["inputs"].get("filename_prefix")})
    return out


def describe_run(film: Film, ctx: RunContext) -> dict[str, Any]:
    """Everything in the sidecar that does not depend on the written file: workflow, nodes, stages, inputs,
    models, synthesized frames, repairs, versions. Computes (or reads from the cache) what it counts."""
    from ..interpolate import InterpolateStage
    from ..remaster.stage import RemasterStage
    prompt = dict(ctx.prompt or {})
    resolved = _input_nodes(ctx)
    stages, inputs, interpolation, repairs = [], [], [], []
    n_out = len(film)
    for f, same in walk(film):
        if isinstance(f, Stage):
            stages.append({"stage": f.name, "version": f.version, "frames": len(f)})
        leaf = _leaf_record(f, resolved) if not isinstance(f, Stage) else None
        if leaf is not None:
            inputs.append(leaf)
        where = "output" if same and len(f) == n_out else "stage"   # whose frame numbers the lists use
        if isinstance(f, InterpolateStage):
            synth = f.synthesized_frames()
            interpolation.append({"stage": f.name, "fps": str(f.out_fps), "frames_in": len(f.source),
                                  "frames_out": len(f), "synthesized_count": len(synth), "synthesized": synth,
                                  "frame_numbers": where})
        elif isinstance(f, RemasterStage):
            counts = f.repaired_counts()
            repairs.append({"stage": f.name, "frames": len(f), "pixels_per_frame": f.info.width * f.info.height,
                            "dust_pixels": int(counts[:, 0].sum()), "scratch_pixels": int(counts[:, 1].sum()),
                            "per_frame_dust_scratch": counts.tolist(), "frame_numbers": where,
                            "mask_outputs": _mask_outputs(prompt)})
    inputs += _photo_inputs(ctx)
    return {
        "provenance_schema": SCHEMA,
        "saver_node": ctx.node_id,
        "prompt": ctx.prompt,
        "extra_pnginfo": ctx.extra_pnginfo,
        "nodes": {nid: {"class_type": n.get("class_type"),
                        "parameters": {k: v for k, v in (n.get("inputs") or {}).items() if not _is_link(v)},
                        "links": {k: v for k, v in (n.get("inputs") or {}).items() if _is_link(v)}}
                  for nid, n in prompt.items()},
        "stages": stages,
        "inputs": inputs,
        "models": models_used(prompt, ctx.locate_model) if ctx.locate_model is not None else [],
        "interpolation": interpolation,
        "repairs": repairs,
        "packages": package_versions(),
        "code_sha256": code_sha256(),
        **ctx.notes,
    }


def _is_link(v: Any) -> bool:
    return isinstance(v, list) and len(v) == 2 and isinstance(v[0], str) and isinstance(v[1], int)


def output_record(path: Path, result: Any, role: str) -> dict[str, Any]:
    """The written output: path, size, sha256 (a sequence: over its frame files in order), frames and the
    frames' and encoded stream's own sha256 (from :class:`~.writer.SaveResult`)."""
    rec: dict[str, Any] = {"role": role, "path": os.path.abspath(path), "format": result.format,
                           "frames": result.frames, "frames_sha256": result.frames_sha256,
                           "stream_sha256": result.stream_sha256, "audio": result.audio}
    if path.is_dir():
        h, size = hashlib.sha256(), 0
        for p in sorted(path.iterdir()):
            size += p.stat().st_size
            h.update(p.name.encode() + b"\0" + sha256_file(p).encode())
        rec.update(kind="sequence", size=size, sha256=h.hexdigest())
    else:
        rec.update(kind="file", size=path.stat().st_size, sha256=sha256_file(path))
    rec["written"] = _iso(path.stat().st_mtime)
    return rec


def to_json(value: Any, indent: str = "") -> str:
    """JSON indented by level, except that a list of numbers (or of short lists of them) stays on one line: a
    reel's per-frame counts are one line each, not one line per number."""
    flat = lambda v: isinstance(v, (int, float, str, bool)) or v is None   # noqa: E731
    if isinstance(value, dict) and value:
        inner = indent + " "
        items = [f"{inner}{json.dumps(str(k))}: {to_json(v, inner)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    if isinstance(value, (list, tuple)) and value and not all(
            flat(v) or (isinstance(v, (list, tuple)) and all(map(flat, v))) for v in value):
        inner = indent + " "
        return "[\n" + ",\n".join(inner + to_json(v, inner) for v in value) + "\n" + indent + "]"
    return json.dumps(value, default=str)


def write_sidecar(output: Path, record: Mapping[str, Any], overwrite: bool) -> Path:
    """Write ``record`` as the sidecar of ``output``: to a hidden partial file first, then put into place
    without replacing anything (replacing a file only with ``overwrite``)."""
    final = sidecar_path(output)
    tmp = final.with_name(f".{final.name[:-5]}.partial-{os.getpid()}-{secrets.token_hex(4)}.json")
    try:
        tmp.write_text(to_json(record) + "\n")
        if overwrite and os.path.isfile(final) and not os.path.islink(final):
            os.replace(tmp, final)
        elif not _take(tmp, final, False):
            raise InputError(f"{final} appeared while {output} was being saved; move it away and save again")
    except OSError as exc:
        raise InputError(write_problem(exc, final)) from exc
    finally:
        tmp.unlink(missing_ok=True)
    return final


# ---- replay ----

def read_sidecar(path: str | os.PathLike) -> dict[str, Any]:
    """A sidecar written by :func:`write_sidecar`, or an error saying what the file is instead."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise InputError(f"sidecar not found: {path!r}; give the .provenance.json file written next to an "
                         f"output") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path!r} is not a provenance sidecar (not readable JSON: {exc})") from None
    if not isinstance(data, dict) or data.get("provenance_schema") != SCHEMA or not isinstance(data.get("prompt"),
                                                                                                  dict):
        raise InputError(f"{path!r} is not a provenance sidecar of this version (no provenance_schema {SCHEMA} "
                         f"and API prompt); to run a workflow file use `run WORKFLOW.json`")
    return data


def _check_file(rec: Mapping[str, Any], what: str) -> list[str]:
    p = rec["path"]
    if not os.path.isfile(p):
        return [f"{what} {p}: missing"]
    st = os.stat(p)
    if st.st_size != rec["size"]:
        return [f"{what} {p}: size changed ({rec['size']} -> {st.st_size} bytes)"]
    if sha256_file(p) != rec["sha256"]:
        return [f"{what} {p}: content changed (sha256 {rec['sha256'][:12]}... -> {sha256_file(p)[:12]}...)"]
    return []


def check_sidecar(side: Mapping[str, Any], locate: Locate | None) -> tuple[list[str], list[str]]:
    """(problems, warnings): the inputs and models that differ from the recorded ones (a replay would not give
    the same output), then package or code versions that differ (it may not)."""
    from .sequence_source import find_sequence
    problems: list[str] = []
    warnings: list[str] = []
    for rec in side.get("inputs", []):
        if rec["kind"] == "video":
            problems += _check_file(rec, "input")
        elif rec["kind"] == "sequence":
            for f in rec["files"]:
                problems += _check_file(f, "input frame")
            node = (side["prompt"].get(rec.get("node") or "") or {}).get("inputs") or {}
            if rec.get("spec") and node.get("frame_count", 0) == 0:   # frames added or removed at the end
                now = len(find_sequence(rec["spec"])) - int(node.get("first_frame", 0))
                if now != len(rec["files"]):
                    problems.append(f"input sequence {rec['spec']}: {now} frames now, {len(rec['files'])} recorded")
        elif rec["kind"] == "photos":
            for f in rec["files"]:
                problems += _check_file(f, f"photo (node {rec['node']})")
            now = len(find_sequence(rec["spec"]))
            if now != len(rec["files"]):
                problems.append(f"photos {rec['spec']}: {now} images now, {len(rec['files'])} recorded")
        else:
            warnings.append(f"input {rec.get('label')!r} was frames in memory (from an IMAGE or VIDEO input): "
                            f"it cannot be checked")
    for rec in side.get("models", []):
        what = f"model {rec['name']!r} (node {rec['node']}, {rec['input']})"
        if "sha256" not in rec:
            warnings.append(f"{what}: was missing when recorded ({rec.get('missing')})")
            continue
        try:
            path = locate(rec["folder"], rec["name"]) if locate is not None else Path(rec["path"])
        except (InputError, OSError) as exc:
            problems.append(f"{what}: missing here ({exc})")
            continue
        if not path.is_file():
            problems.append(f"{what}: missing here ({path})")
        elif path.stat().st_size != rec["size"] or sha256_file(path) != rec["sha256"]:
            problems.append(f"{what}: {path} differs from the recorded file (sha256 {rec['sha256'][:12]}..., "
                            f"{rec['size']} bytes; here {sha256_file(path)[:12]}..., {path.stat().st_size} bytes)")
    here = package_versions()
    for name, version in (side.get("packages") or {}).items():
        if here.get(name) != version:
            warnings.append(f"{name} {here.get(name, 'not installed')} here, {version} recorded")
    if side.get("code_sha256") and side["code_sha256"] != code_sha256():
        warnings.append("the FilmRestore code differs from the recorded run's (another version or local edits)")
    return problems, warnings


def compare_outputs(recorded: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[bool, str]:
    """(same frames, a sentence): bit-identical, the same encoded stream, the same frames, or different."""
    if new["sha256"] == recorded["sha256"]:
        return True, f"bit-identical to the recorded output (sha256 {new['sha256']})"
    if new.get("stream_sha256") and new["stream_sha256"] == recorded.get("stream_sha256"):
        return True, ("the same encoded video stream as the recorded output; only the container differs (the "
                      "workflow stored in it: another output name, input path or overwrite setting)")
    if new.get("frames_sha256") and new["frames_sha256"] == recorded.get("frames_sha256"):
        return True, ("the same frames as the recorded output were encoded, but the encoded video differs: the "
                      "H.264/H.265 encoders here do not always give the same bitstream for the same frames (about "
                      "1 run in 6 under load, cause not found); FFV1 and PNG/TIFF sequences replay bit for bit")
    return False, (f"differs from the recorded output: frames sha256 {new.get('frames_sha256', '')[:12]}... "
                   f"recorded {recorded.get('frames_sha256', '')[:12]}... ({new['frames']} frames, recorded "
                   f"{recorded['frames']})")
