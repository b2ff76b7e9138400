"""Node classes of the pack; each is a thin form around a library function."""
from __future__ import annotations

from .chroma_node import FilmChromaStabilize, FilmColourFlicker
from .bridge_nodes import FilmFromImages, FilmFromVideo, FilmToImages
from .degrade_node import FilmDegrade
from .deoldify_node import FilmDeOldify
from .interpolate_node import FilmInterpolate
from .io_nodes import FilmLoadVideo, FilmSaveVideo
from .reference_colorize_node import FilmReferenceColorize
from .photos_node import FilmLoadPhotos
from .remaster_node import FilmRemaster
from .restore_nodes import FilmDeblur, FilmUpscale
from .scene_nodes import FilmSceneDetect, FilmSceneRange, FilmSelectScenes
from .recording import instrument
from .stabilize_node import FilmStabilize

NODE_CLASS_MAPPINGS = {
    "FilmLoadVideo": FilmLoadVideo,
    "FilmSaveVideo": FilmSaveVideo,
    "FilmLoadPhotos": FilmLoadPhotos,
    "FilmToImages": FilmToImages,
    "FilmFromImages": FilmFromImages,
    "FilmFromVideo": FilmFromVideo,
    "FilmDegrade": FilmDegrade,
    "FilmUpscale": FilmUpscale,
    "FilmDeblur": FilmDeblur,
    "FilmRemaster": FilmRemaster,
    "FilmInterpolate": FilmInterpolate,
    "FilmSceneDetect": FilmSceneDetect,
    "FilmSelectScenes": FilmSelectScenes,
    "FilmSceneRange": FilmSceneRange,
    "FilmStabilize": FilmStabilize,
    "FilmDeOldify": FilmDeOldify,
    "FilmReferenceColorize": FilmReferenceColorize,
    "FilmChromaStabilize": FilmChromaStabilize,
    "FilmColourFlicker": FilmColourFlicker,
}

instrument(NODE_CLASS_MAPPINGS)  # the before/after view reads each node's FILMs of the last run

NODE_DISPLAY_NAME_MAPPINGS = {
    "FilmLoadVideo": "Film: Load Video / Sequence",
    "FilmSaveVideo": "Film: Save Video",
    "FilmLoadPhotos": "Film: Load Photos (colour references)",
    "FilmToImages": "Film: To Images",
    "FilmFromImages": "Film: From Images",
    "FilmFromVideo": "Film: From Video",
    "FilmDegrade": "Film: Degrade (make old film)",
    "FilmUpscale": "Film: Upscale",
    "FilmDeblur": "Film: Deblur",
    "FilmRemaster": "Film: Remaster (dust, scratches, flicker, grain)",
    "FilmInterpolate": "Film: Interpolate (frame rate)",
    "FilmSceneDetect": "Film: Scene Detect (shots + keyframes)",
    "FilmSelectScenes": "Film: Select Shots",
    "FilmSceneRange": "Film: Shot / Frame Range",
    "FilmStabilize": "Film: Stabilize",
    "FilmDeOldify": "Film: DeOldify (colourise)",
    "FilmReferenceColorize": "Film: Reference Colorize (from colour photos)",
    "FilmChromaStabilize": "Film: Chroma Stabilize (colour flicker, luma kept)",
    "FilmColourFlicker": "Film: Colour Flicker (metric)",
}
