"""The pack as ComfyUI sees it: cheap import, no ComfyUI import, complete node definitions."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from filmrestore import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS, WEB_DIRECTORY
from filmrestore.runner.workflow import is_widget

ROOT = Path(__file__).resolve().parents[1]


def test_import_is_cheap_and_touches_no_comfyui_or_torch():
    code = ("import sys, filmrestore; heavy = [m for m in ('torch', 'cv2', 'av', 'comfy', 'folder_paths', "
            "'spandrel', 'scenedetect') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_pack_imports_as_a_comfyui_custom_node_folder(tmp_path):
    """ComfyUI loads a custom node folder by path under its own module name, not as 'filmrestore'."""
    code = (f"import importlib.util, sys; spec = importlib.util.spec_from_file_location('ComfyUI-FilmRestore', "
            f"r'{ROOT / '__init__.py'}', submodule_search_locations=[r'{ROOT}']); m = importlib.util.module_from_spec(spec); "
            f"sys.modules['ComfyUI-FilmRestore'] = m; spec.loader.exec_module(m); print(sorted(m.NODE_CLASS_MAPPINGS))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path).stdout
    assert "FilmLoadVideo" in out


def test_every_node_is_a_complete_v1_definition():
    assert WEB_DIRECTORY == "./web" and (ROOT / "web").is_dir()
    for name, cls in NODE_CLASS_MAPPINGS.items():
        assert name.startswith("Film") and name in NODE_DISPLAY_NAME_MAPPINGS
        for attr in ("INPUT_TYPES", "RETURN_TYPES", "RETURN_NAMES", "FUNCTION", "CATEGORY", "DESCRIPTION"):
            assert hasattr(cls, attr), f"{name} lacks {attr}"
        assert len(cls.RETURN_NAMES) == len(cls.RETURN_TYPES)
        assert callable(getattr(cls, cls.FUNCTION))
        types = cls.INPUT_TYPES()
        for section in ("required", "optional"):
            for inp, spec in (types.get(section) or {}).items():
                assert len(spec) > 1 and spec[1].get("tooltip"), f"{name}.{inp} has no tooltip"
                if is_widget(spec) and not isinstance(spec[0], list) and spec[0] != "STRING":
                    assert "default" in spec[1], f"{name}.{inp} has no default"


def test_only_the_bridge_module_mentions_comfyui_modules():
    offenders = []
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT)
        if rel.parts[0] in ("tests", ".venv", "benchmarks") or rel.name == "comfy_bridge.py":
            continue
        text = path.read_text()
        if re.search(r"^\s*(import (comfy|folder_paths)\b|from (comfy|folder_paths)[\s.])", text, re.M):
            offenders.append(str(rel))
    assert offenders == []


def test_requirements_leave_comfyuis_torch_alone_and_the_standalone_env_pins_it():
    """ComfyUI-Manager pip-installs requirements.txt into ComfyUI's environment: a torch line replaces its build."""
    lines = [ln.split("#")[0].strip() for ln in (ROOT / "requirements.txt").read_text().splitlines()]
    named = [re.split(r"[<>=!~\[ ;]", ln)[0].lower() for ln in lines if ln]
    assert not {"torch", "torchvision", "torchaudio"} & set(named), named
    dev = (ROOT / "requirements-dev.txt").read_text()
    assert "torch==2.14.1" in dev and "torchvision==0.29.1" in dev and "-r requirements.txt" in dev


def test_pyproject_has_the_comfy_registry_section():
    import tomllib
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    comfy = data["tool"]["comfy"]
    assert comfy["PublisherId"] and comfy["DisplayName"] and comfy["Icon"]
    assert data["project"]["urls"]["Repository"]
    assert (ROOT / "web" / "icon.png").is_file()
