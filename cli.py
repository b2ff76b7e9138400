"""Command line: ``python -m filmrestore run|nodes|sample|cache ...`` (only calls the public API)."""
from __future__ import annotations

import argparse
import difflib
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any, Mapping, Sequence

from .filmlib.cache import configure_cache, parse_bytes
from .filmlib.errors import EncodeError, FilmRestoreError, InputError, WorkflowError
from .filmlib.io.output_path import check_overwrite, is_our_sequence
from .filmlib.io.writer import CONTAINERS, FORMATS, output_target
from .runner.metrics_cli import add_parser as add_metrics_parser


def _node_classes() -> tuple[dict[str, Any], dict[str, str]]:
    from . import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS
    return NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _input_names(cls: Any) -> list[str]:
    types = cls.INPUT_TYPES()
    return [name for section in ("required", "optional") for name in (types.get(section) or {})]


def _set_errors(prompt: dict[str, Any], sets: Sequence[str], node_classes: Mapping[str, Any]) -> list[str]:
    """Apply every ``--set NODE.input=value`` that names a real node input; one message for each that does not."""
    errors = []
    for item in sets:
        target, sep, value = item.partition("=")
        nid, dot, name = target.partition(".")
        if not sep or not dot or not name:
            errors.append(f"--set {item!r}: expected NODE_ID.input=value, e.g. --set 4.crf=20")
            continue
        if nid not in prompt:
            errors.append(f"--set {item!r}: no node {nid!r} in the workflow (nodes: {', '.join(sorted(prompt))})")
            continue
        ctype = prompt[nid]["class_type"]
        cls = node_classes.get(ctype)
        if cls is not None and name not in (names := _input_names(cls)):
            close = difflib.get_close_matches(name, names, 1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            errors.append(f"--set {item!r}: node {nid} ({ctype}) has no input {name!r}{hint} "
                          f"(its inputs: {', '.join(names)})")
            continue
        prompt[nid]["inputs"][name] = _parse_value(value)
    return errors


def _output_errors(prompt: dict[str, Any], nid: str, path: str, overwrite: bool) -> list[str]:
    """Point saver ``nid`` at ``--output PATH``: exactly that file (its extension picks the container) or, for a
    folder (``PATH/`` or an existing one), inside it with the workflow's prefix and numbering."""
    inputs = prompt[nid]["inputs"]
    fmt = FORMATS.get(inputs.get("format")) if isinstance(inputs.get("format"), str) else None
    p = Path(os.path.abspath(os.path.expanduser(path)))
    flag = f"--output {path!r}"
    if fmt is None:  # validation reports a bad format; a linked one is only known when the workflow runs
        inputs["filename_prefix"] = str(p)
        return []
    ours = fmt.kind == "sequence" and is_our_sequence(p) and any(p.iterdir())
    into_folder = path.endswith(("/", os.sep)) or (p.is_dir() and not ours)
    blocker = next((a for a in ([p] if into_folder else []) + list(p.parents) if a.exists() and not a.is_dir()), None)
    if blocker is not None:
        return [f"{flag}: {blocker} is a file, not a folder; choose another output path"]
    if into_folder:
        prefix = Path(str(inputs.get("filename_prefix") or "restored").rstrip("/\\")).name or "restored"
        inputs["filename_prefix"] = str(p / prefix)
        return []
    if fmt.kind != "sequence" and p.suffix.lower() not in CONTAINERS:
        what = f"{p.suffix!r} is not a video container" if p.suffix else "it has no file extension"
        return [f"{flag}: {what}; name a {', '.join(sorted(CONTAINERS))} file, or end the path with / to save "
                f"inside that folder"]
    target = str(p) + (os.sep if fmt.kind == "sequence" else "")
    try:
        t = output_target(target, fmt)
        if os.path.lexists(p):
            if not overwrite:
                return [f"{flag} already exists; add --overwrite to replace it, or choose another name"]
            check_overwrite(t, True)
    except EncodeError as exc:
        return [f"{flag}: {exc}; or set another format with --set {nid}.format=..."]
    inputs["filename_prefix"] = target
    inputs["overwrite"] = bool(overwrite)
    return []


def override_errors(prompt: dict[str, Any], sets: Sequence[str], input_path: str | None, output_path: str | None,
                    node_classes: Mapping[str, Any], overwrite: bool = False) -> list[str]:
    """Apply ``--set``, ``--input``, ``--output`` and ``--overwrite`` to an API prompt (in place); every problem."""
    errors = _set_errors(prompt, sets, node_classes)
    for flag, path, ctype, field in (("--input", input_path, "FilmLoadVideo", "video"),
                                     ("--output", output_path, "FilmSaveVideo", "filename_prefix")):
        if path is None:
            continue
        ids = [nid for nid, n in prompt.items() if n["class_type"] == ctype]
        if len(ids) != 1:
            errors.append(f"{flag} needs exactly one {ctype} node in the workflow, found {len(ids)} "
                          f"({', '.join(ids) or 'none'}); use --set NODE_ID.{field}=... instead")
        elif flag == "--input":
            prompt[ids[0]]["inputs"][field] = os.path.abspath(path)
        else:
            errors += _output_errors(prompt, ids[0], path, overwrite)
    if overwrite and output_path is None:
        for node in prompt.values():
            if node["class_type"] == "FilmSaveVideo":
                node["inputs"]["overwrite"] = True
    return errors


def cmd_run(args: argparse.Namespace) -> int:
    from .runner.execute import Runner
    from .runner.validate import validate_prompt
    from .runner.workflow import read_workflow, to_api, is_ui_format
    classes, _ = _node_classes()
    if args.replay is not None or args.workflow is None:
        if (args.replay is None) == (args.workflow is None):
            raise SystemExit("usage: python -m filmrestore run WORKFLOW.json | run --replay SIDECAR.provenance.json")
        if args.input is not None:
            raise SystemExit("--replay runs the recorded inputs again; to run the workflow on another clip, save "
                             "the sidecar's prompt as a workflow file and use run WORKFLOW.json --input PATH")
        return cmd_replay(args, classes)
    data = read_workflow(args.workflow)
    prompt = to_api(data, classes)
    errors = override_errors(prompt, args.set or [], args.input, args.output, classes, args.overwrite)
    errors += validate_prompt(prompt, classes)  # with the override problems, so one run shows every error
    if errors:
        raise WorkflowError(errors)
    result = Runner(classes).run(prompt, extra_pnginfo={"workflow": data} if is_ui_format(data) else None)
    for nid, ui in result.ui.items():
        for item in ui.get("images", []):
            print(f"node {nid}: saved {item.get('subfolder') + '/' if item.get('subfolder') else ''}"
                  f"{item['filename']}")
    for nid, out in result.outputs.items():
        if prompt[nid]["class_type"] == "FilmSaveVideo":
            print(f"wrote {out[0]}")
    print(f"done in {result.seconds:.1f} s")
    return 0


def _replay_prompt(side: dict[str, Any], args: argparse.Namespace, classes: Mapping[str, Any]) -> dict[str, Any]:
    """The recorded API prompt, set to write a new file (never over the recorded one unless --overwrite), reading
    the input files the sidecar checked. Relative input names (a workflow from ComfyUI) are read from the recorded
    input folder, so the workflow stored in the new file is the recorded one; otherwise the path is rewritten."""
    from . import comfy_bridge as bridge
    prompt = json.loads(json.dumps(side["prompt"]))
    # (inputs, the input's name, recorded file, folder a name needs)
    moved: list[tuple[dict[str, Any], str, str, str | None]] = []
    for rec in side.get("inputs", []):
        node = prompt.get(rec.get("node") or "")
        field = "photos" if rec.get("kind") == "photos" else "video"
        if node is None or not rec.get("spec") or not isinstance(node["inputs"].get(field), str):
            continue
        name = node["inputs"][field]
        try:
            here = os.path.abspath(bridge.resolve_input_path(name))
        except FilmRestoreError:
            here = None
        if here != rec["spec"]:
            tail = os.sep + os.path.normpath(name)
            folder = rec["spec"][:-len(tail)] if not os.path.isabs(name) and rec["spec"].endswith(tail) else None
            moved.append((node["inputs"], field, rec["spec"], folder))
    folders = {folder for _, _, _, folder in moved}
    if len(folders) == 1 and None not in folders and not bridge.in_comfyui():
        os.environ["FILMRESTORE_INPUT"] = folder = folders.pop()
        print(f"reading the workflow's input names from the recorded input folder {folder}", file=sys.stderr)
    else:
        for inputs, field, spec, _ in moved:
            inputs[field] = spec
    for node in prompt.values():
        if node.get("class_type") == "FilmSaveVideo":
            node["inputs"]["overwrite"] = bool(args.overwrite)
    errors = override_errors(prompt, args.set or [], args.input, args.output, classes, args.overwrite)
    if errors:
        raise WorkflowError(errors)
    return prompt


def cmd_replay(args: argparse.Namespace, classes: Mapping[str, Any]) -> int:
    """Check the inputs and models a sidecar records, run its workflow again, compare the new output."""
    from .filmlib.io.provenance import ReplayMismatch, check_sidecar, compare_outputs, read_sidecar, sidecar_path
    from .model_loaders.folders import find_model
    from .nodes.io_nodes import compare_target
    from .runner.execute import Runner
    side = read_sidecar(args.replay)
    problems, warnings = check_sidecar(side, find_model)
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    if problems and not args.force:
        raise ReplayMismatch(problems)
    for p in problems:
        print(f"warning (--force): {p}", file=sys.stderr)
    prompt = _replay_prompt(side, args, classes)
    result = Runner(classes).run(prompt, extra_pnginfo=side.get("extra_pnginfo"))
    nid, recorded = side.get("saver_node"), side["output"]
    if nid not in result.outputs:
        print(f"replayed, but the sidecar names no saver node of the workflow ({nid!r}): nothing to compare")
        return 1
    path = Path(result.outputs[nid][0])
    if recorded["role"] == "compare":
        fmt = FORMATS[prompt[nid]["inputs"]["format"]]
        path = Path(compare_target(path, fmt).rstrip("/"))
    new = read_sidecar(sidecar_path(path))["output"]
    same, sentence = compare_outputs(recorded, new)
    print(f"wrote {path}: {sentence}")
    return 0 if same else 1


def cmd_nodes(args: argparse.Namespace) -> int:
    from .runner.execute import object_info
    classes, names = _node_classes()
    print(json.dumps(object_info(classes, names), indent=1, default=list))
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from .filmlib.sample import make_sample
    paths = make_sample(args.folder)
    for name, path in paths.items():
        print(f"{name}: {path}")
    return 0


def cmd_scenes(args: argparse.Namespace) -> int:
    from .filmlib.io.open import open_clip
    from .nodes.scene_nodes import FilmSceneDetect
    defaults = {k: v[1]["default"] for k, v in FilmSceneDetect.INPUT_TYPES()["required"].items() if k != "film"}
    from .filmlib.scene_detect import detect_scenes
    scenes = detect_scenes(open_clip(args.video), defaults["detector"], defaults["threshold"] or None,
                           defaults["min_scene_len"], defaults["flicker_robust"])
    if args.json:
        print(json.dumps([{"start": s.start, "end": s.end, "keyframe": s.keyframe} for s in scenes.shots]))
        return 0
    print(f"{'shot':>4}  {'start':>7}  {'end':>7}  {'start time':>12}  {'end time':>12}  {'frames':>6}  keyframe")
    for i, s in enumerate(scenes.shots):
        print(f"{i:>4}  {s.start:>7}  {s.end:>7}  {scenes.timecode(s.start):>12}  {scenes.timecode(s.end):>12}  "
              f"{len(s):>6}  {s.keyframe}")
    return 0


def cmd_cache(args: argparse.Namespace) -> int:
    from .filmlib.cache import default_cache
    cache = default_cache()
    if args.action == "clear":
        count, size = cache.planned_clear()
        print(f"{'would delete' if args.dry_run else 'deleting'} {count} chunk files ({size / 2**20:.1f} MiB) in "
              f"{cache.folder}: only the cache's own "
              f"<xx>/<key>.safetensors entries and temporary files; anything else there stays")
        if args.dry_run:
            return 0
        freed = cache.clear()
        print(f"cleared {cache.folder}: {freed / 2**20:.1f} MiB freed")
    else:
        info = cache.info()
        print(f"folder:  {info['folder']}")
        if info["disk_problem"]:
            print(f"problem: {info['disk_problem']}")
        print(f"disk:    {info['disk_entries']} chunks, {info['disk_bytes'] / 2**20:.1f} MiB "
              f"of {info['disk_budget'] / 2**30:.1f} GiB budget")
        print(f"memory:  budget {info['memory_budget'] / 2**20:.0f} MiB")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from .model_loaders import registry
    from .model_loaders.checkpoint import convert
    from .model_loaders.download import download, verify
    from .model_loaders.folders import folders
    if args.action == "convert":
        if not args.name:
            raise SystemExit("usage: python -m filmrestore models convert FILE [--out OUT.safetensors]")
        print(f"wrote {convert(args.name, args.out)}")
        return 0
    if args.action == "download":
        if not args.name:
            raise SystemExit("usage: python -m filmrestore models download NAME (see: models list)")
        try:
            info = registry.find(args.name)
        except KeyError as exc:   # the message lists the known names
            raise InputError(exc.args[0]) from None
        from tqdm import tqdm
        bar = tqdm(unit="B", unit_scale=True, desc=info.filename)

        def progress(done: int, total: int | None) -> None:
            bar.total = total
            bar.update(done - bar.n)
        path = download(info, progress=progress)
        bar.close()
        print(f"{info.name}: {path} ({verify(info, path)})")
        if info.non_commercial:
            print(f"note: {info.name} is licensed {info.license}: non-commercial use only")
        return 0
    status = 0
    print(f"{'name':26} {'purpose':11} {'state':9} {'file':30} {'licence':16} folder")
    for info in registry.MODELS:
        present = [f / info.filename for f in folders(info.folder) if (f / info.filename).is_file()]
        state = "missing"
        if present:
            state = verify(info, present[0]) if args.action == "verify" else "present"
            status |= state == "mismatch"
        nc = " NON-COMMERCIAL" if info.non_commercial else ""
        where = present[0].parent if present else (folders(info.folder) or ["models/" + info.folder])[0]
        print(f"{info.name:26} {info.purpose:11} {state:9} {info.filename:30} {info.license + nc:16} {where}")
    return 1 if status else 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m filmrestore", description="Restore old film headless.")
    p.add_argument("--cache-dir", help="chunk cache folder (default: $FILMRESTORE_CACHE or ~/.cache/filmrestore)")
    p.add_argument("--cache-ram", help="memory budget of the cache, e.g. 1G (default $FILMRESTORE_CACHE_RAM or 1G)")
    p.add_argument("--cache-disk", help="disk budget of the cache, e.g. 20G (0 disables the disk cache)")
    p.add_argument("-v", "--verbose", action="store_true", help="log what each node does")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run a ComfyUI workflow JSON (UI or API format)")
    r.add_argument("workflow", nargs="?", help="the workflow (UI or API format)")
    r.add_argument("--replay", metavar="SIDECAR.provenance.json",
                   help="run again what the sidecar beside an output records: first checks that the inputs and "
                        "models are the recorded ones (lists each difference and stops), then writes a new "
                        "numbered file (or --output) and says whether it is bit-identical to the recorded one")
    r.add_argument("--force", action="store_true", help="--replay even when inputs or models differ")
    r.add_argument("--input", help="path for the workflow's FilmLoadVideo")
    r.add_argument("--output", help="the file the workflow's FilmSaveVideo writes: exactly this name, its extension "
                                    "(.mp4, .mov, .mkv) picks the container; a folder (ending in /) saves inside it "
                                    "with the workflow's prefix and a number")
    r.add_argument("--overwrite", action="store_true", help="replace an existing --output file")
    r.add_argument("--set", action="append", metavar="NODE_ID.input=value", help="override an input")
    r.set_defaults(func=cmd_run)
    n = sub.add_parser("nodes", help="print node definitions as ComfyUI /object_info JSON")
    n.set_defaults(func=cmd_nodes)
    s = sub.add_parser("sample", help="make the sample old-film clip and its ground truth")
    s.add_argument("folder", nargs="?", default="input/sample")
    s.set_defaults(func=cmd_sample)
    sc = sub.add_parser("scenes", help="list the shots of a video (like scenedetect list-scenes)")
    sc.add_argument("video")
    sc.add_argument("--json", action="store_true", help="print [{start, end, keyframe}] in frame numbers")
    sc.set_defaults(func=cmd_scenes)
    c = sub.add_parser("cache", help="show or clear the chunk cache")
    c.add_argument("action", choices=["info", "clear"])
    c.add_argument("--dry-run", action="store_true", help="clear: only say what would be deleted")
    c.set_defaults(func=cmd_cache)
    m = sub.add_parser("models", help="list, download, verify or convert model files")
    m.add_argument("action", choices=["list", "download", "verify", "convert"])
    m.add_argument("name", nargs="?", help="model name (download) or checkpoint file (convert)")
    m.add_argument("--out", help="output .safetensors path for convert")
    m.set_defaults(func=cmd_models)
    add_metrics_parser(sub)
    return p


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so it unwinds like Ctrl-C (partial outputs are removed)."""


def _terminate(signum: int, frame: Any) -> None:
    raise Terminated()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s: %(message)s")
    import threading
    handle_term = threading.current_thread() is threading.main_thread()  # signals can only be set there
    previous = signal.getsignal(signal.SIGTERM)
    if handle_term:
        signal.signal(signal.SIGTERM, _terminate)
    try:
        configure_cache(args.cache_dir,
                        None if args.cache_ram is None else parse_bytes(args.cache_ram, "--cache-ram"),
                        None if args.cache_disk is None else parse_bytes(args.cache_disk, "--cache-disk"))
        return int(args.func(args) or 0)
    except WorkflowError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except FilmRestoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # the machine, not the workflow: a full disk, a folder we may not write
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except Terminated:
        print("terminated (SIGTERM): the partial output was removed; computed chunks are cached, run the same "
              "command again to resume", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("interrupted: the partial output was removed; computed chunks are cached, run the same command "
              "again to resume", file=sys.stderr)
        return 130
    finally:
        if handle_term:
            signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)
