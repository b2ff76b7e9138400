"""Known models: what they are for, where the official files are published, and how to check them.

``sha256`` and ``size`` are the published file's; ``None`` where the publisher gives no checksum and no public
mirror records one (``models verify`` then reports the file as unchecked rather than pretending).
"""
from __future__ import annotations

from dataclasses import dataclass

PURPOSES = ("upscale", "deblur", "colorize", "remaster", "interpolate")

# sub-folder of the models directory for each kind; ComfyUI's own name where one exists
FOLDERS = {"upscale_models": {".pth", ".safetensors", ".pt", ".ckpt"},
           "deoldify": {".pth", ".safetensors"},
           "deepremaster": {".tar", ".pth", ".safetensors"},
           "rife": {".pkl", ".pth", ".safetensors"},
           "colorization": {".pth", ".safetensors"}}


@dataclass(frozen=True)
class ModelInfo:
    name: str
    filename: str
    purpose: str
    folder: str
    architecture: str
    urls: tuple[str, ...]
    license: str
    non_commercial: bool = False
    sha256: str | None = None
    size: int | None = None
    notes: str = ""

    def __post_init__(self) -> None:
        if self.purpose not in PURPOSES:
            raise ValueError(f"{self.name}: purpose must be one of {PURPOSES}, got {self.purpose!r}")
        if self.folder not in FOLDERS:
            raise ValueError(f"{self.name}: folder must be one of {sorted(FOLDERS)}, got {self.folder!r}")


_ESRGAN = "https://github.com/xinntao/Real-ESRGAN/releases/download"
_RIFE = "https://github.com/styler00dollar/VSGAN-tensorrt-docker/releases/download/models"

MODELS: tuple[ModelInfo, ...] = (
    ModelInfo("realesrgan-x4plus", "RealESRGAN_x4plus.pth", "upscale", "upscale_models", "spandrel:ESRGAN",
              (f"{_ESRGAN}/v0.1.0/RealESRGAN_x4plus.pth",), "BSD-3-Clause",
              sha256="4fa0d38905f75ac06eb49a7951b426670021be3018265fd191d2125df9d682f1", size=67040989),
    ModelInfo("realesrgan-x2plus", "RealESRGAN_x2plus.pth", "upscale", "upscale_models", "spandrel:ESRGAN",
              (f"{_ESRGAN}/v0.2.1/RealESRGAN_x2plus.pth",), "BSD-3-Clause",
              sha256="49fafd45f8fd7aa8d31ab2a22d14d91b536c34494a5cfe31eb5d89c2fa266abb", size=67061725),
    ModelInfo("realesr-general-x4v3", "realesr-general-x4v3.pth", "upscale", "upscale_models",
              "spandrel:SRVGGNetCompact", (f"{_ESRGAN}/v0.2.5.0/realesr-general-x4v3.pth",), "BSD-3-Clause",
              sha256="8dc7edb9ac80ccdc30c3a5dca6616509367f05fbc184ad95b731f05bece96292", size=4885111,
              notes="blend with realesr-general-wdn-x4v3 for the denoise strength (as Real-ESRGAN's -dn)"),
    ModelInfo("realesr-general-wdn-x4v3", "realesr-general-wdn-x4v3.pth", "upscale", "upscale_models",
              "spandrel:SRVGGNetCompact", (f"{_ESRGAN}/v0.2.5.0/realesr-general-wdn-x4v3.pth",), "BSD-3-Clause",
              notes="the 'with denoise' twin of realesr-general-x4v3"),
    ModelInfo("nafnet-gopro-width64", "NAFNet-GoPro-width64.pth", "deblur", "upscale_models", "spandrel:NAFNet",
              ("https://github.com/megvii-research/NAFNet#results-and-pre-trained-models",), "MIT",
              notes="published on Google Drive / Baidu: download by hand into upscale_models"),
    ModelInfo("nafnet-reds-width64", "NAFNet-REDS-width64.pth", "deblur", "upscale_models", "spandrel:NAFNet",
              ("https://github.com/megvii-research/NAFNet#results-and-pre-trained-models",), "MIT",
              notes="published on Google Drive / Baidu: download by hand into upscale_models"),
    ModelInfo("deoldify-artistic", "ColorizeArtistic_gen.pth", "colorize", "deoldify", "deoldify",
              ("https://data.deepai.org/deoldify/ColorizeArtistic_gen.pth",), "MIT"),
    ModelInfo("deoldify-stable", "ColorizeStable_gen.pth", "colorize", "deoldify", "deoldify",
              ("https://www.dropbox.com/s/axsd2g85uyixaho/ColorizeStable_gen.pth?dl=1",), "MIT"),
    ModelInfo("deoldify-video", "ColorizeVideo_gen.pth", "colorize", "deoldify", "deoldify",
              ("https://data.deepai.org/deoldify/ColorizeVideo_gen.pth",), "MIT"),
    ModelInfo("deepremaster", "remasternet.pth.tar", "remaster", "deepremaster", "deepremaster",
              ("http://iizuka.cs.tsukuba.ac.jp/data/remasternet.pth.tar",), "CC BY-NC-SA 4.0", non_commercial=True,
              notes="Iizuka & Simo-Serra, SIGGRAPH Asia 2019 (github.com/satoshiiizuka/siggraphasia2019_remastering,"
                    " download_model.sh): one 245 MB file, restoration 'modelR' + colourisation 'modelC'; the "
                    "publisher gives md5 1219f5830e4a7208b1c7ba2f089a16c8, no sha256"),
    ModelInfo("siggraph17", "siggraph17-df00044c.pth", "colorize", "colorization", "siggraph17",
              ("https://colorizers.s3.us-east-2.amazonaws.com/siggraph17-df00044c.pth",), "BSD-2-Clause",
              # torch.hub's hash prefix in the name (df00044c) agrees with the sha256 the colorization forks list
              sha256="df00044c0a4d7c3edcecf6f75437ce346a66e7a42612d9b968e1a7e17dbc6f66"),
    ModelInfo("rife-4.6", "rife46.pth", "interpolate", "rife", "rife",
              (f"{_RIFE}/rife46.pth",), "MIT"),
    ModelInfo("rife-4.7", "rife47.pth", "interpolate", "rife", "rife",
              (f"{_RIFE}/rife47.pth",), "MIT"),
    ModelInfo("rife-4.9", "rife49.pth", "interpolate", "rife", "rife",
              (f"{_RIFE}/rife49.pth",), "MIT"),
    ModelInfo("rife-4.17", "rife417.pth", "interpolate", "rife", "rife",
              (f"{_RIFE}/rife417.pth",), "MIT"),
    ModelInfo("rife-4.26", "rife426.pth", "interpolate", "rife", "rife",
              (f"{_RIFE}/rife426.pth",), "MIT",
              notes="Practical-RIFE's own flownet.pkl (Google Drive zip) loads too: put it in models/rife"),
)


def find(name: str) -> ModelInfo:
    """The registry entry called ``name`` (or whose file name is ``name``)."""
    for m in MODELS:
        if name in (m.name, m.filename):
            return m
    raise KeyError(f"unknown model {name!r}; known models: {', '.join(m.name for m in MODELS)} "
                   f"(python -m filmrestore models list)")


def by_filename(filename: str) -> ModelInfo | None:
    return next((m for m in MODELS if m.filename == filename), None)
