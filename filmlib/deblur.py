"""Deblurring: edge-aware unsharp masking, Richardson-Lucy deconvolution with an estimated Gaussian point
spread, or a 1x restoration model (NAFNet and friends, through the model layer)."""
from __future__ import annotations

import numpy as np

from .clip import Film, Stage
from .errors import InputError
from .frames import from_float, luma, to_float
from .upscale import FrameModel

METHODS = ("unsharp", "richardson_lucy", "model")


def estimate_blur_sigma(gray: np.ndarray, probe: float = 1.5) -> float:
    """Gaussian blur sigma of a (H, W) float image, from how much gradient energy a known re-blur removes.

    For natural images blurred by sigma0, gradient energy falls roughly as 1/sigma^2, so re-blurring by
    ``probe`` keeps a fraction r = s0^2 / (s0^2 + probe^2) of it: s0 = probe * sqrt(r / (1 - r)).
    """
    import cv2

    def energy(img: np.ndarray) -> float:
        gx = cv2.Sobel(img, cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(img, cv2.CV_32F, 0, 1, ksize=3)
        return float(np.mean(gx * gx + gy * gy))

    e0 = energy(gray)
    if e0 <= 1e-12:
        return 0.0
    r = min(0.98, energy(cv2.GaussianBlur(gray, (0, 0), probe)) / e0)
    raw = probe * np.sqrt(r / (1.0 - r))
    # photographs are not infinitely sharp, so the 1/sigma^2 law reads high; this linear correction was
    # calibrated on the sample photographs blurred by known sigmas 1-2 (error under 0.1 px there)
    return float(np.clip(0.9 * raw - 0.6, 0.0, 6.0))


def unsharp(img: np.ndarray, sigma: float, amount: float, edge_aware: bool = True) -> np.ndarray:
    """Unsharp mask of a float (H, W, C) image; ``edge_aware`` sharpens edges, not flat grain."""
    import cv2
    h, w = img.shape[:2]
    blurred = cv2.GaussianBlur(img, (0, 0), sigma).reshape(img.shape)
    detail = img - blurred
    if edge_aware:
        y = luma(img)
        gx = cv2.Sobel(cv2.GaussianBlur(y, (0, 0), 1.0), cv2.CV_32F, 1, 0)
        gy = cv2.Sobel(cv2.GaussianBlur(y, (0, 0), 1.0), cv2.CV_32F, 0, 1)
        g = np.sqrt(gx * gx + gy * gy)
        k = float(np.percentile(g, 60)) + 1e-6  # edges above the typical (grain) gradient get full strength
        weight = (g / (g + k)).reshape(h, w, 1)
        detail = detail * weight
    return np.clip(img + amount * detail, 0.0, 1.0)


def richardson_lucy(img: np.ndarray, sigma: float, iterations: int = 10) -> np.ndarray:
    """Richardson-Lucy deconvolution of a float (H, W, C) image by a Gaussian PSF (symmetric: no flip needed)."""
    import cv2
    if sigma <= 0.3 or iterations <= 0:
        return img
    radius = int(np.ceil(3 * sigma))
    k1 = cv2.getGaussianKernel(2 * radius + 1, sigma).astype(np.float32)
    psf = k1 @ k1.T
    eps = 1e-4
    observed = np.clip(img, eps, 1.0)
    est = observed.copy()
    for _ in range(iterations):
        conv = cv2.filter2D(est, -1, psf, borderType=cv2.BORDER_REFLECT).reshape(img.shape)
        ratio = observed / np.maximum(conv, eps)
        est = est * cv2.filter2D(ratio, -1, psf, borderType=cv2.BORDER_REFLECT).reshape(img.shape)
        est = np.clip(est, 0.0, 1.5)
    return np.clip(est, 0.0, 1.0)


class DeblurStage(Stage):
    """Per-frame deblurring; ``sigma`` 0 estimates the blur of each frame."""

    name = "deblur"
    version = "1"

    def __init__(self, source: Film, method: str = "unsharp", strength: float = 1.0, sigma: float = 0.0,
                 iterations: int = 10, model: FrameModel | None = None):
        if method not in METHODS:
            raise InputError(f"method must be one of {METHODS}, got {method!r}")
        if method == "model" and (model is None or getattr(model, "scale", 1) != 1):
            raise InputError("method 'model' needs a 1x restoration model (NAFNet, ...); "
                             f"got {'none' if model is None else f'a {model.scale}x model'}")
        if strength < 0 or sigma < 0:
            raise InputError(f"strength and sigma must be >= 0, got {strength} and {sigma}")
        super().__init__(source, {"method": method, "strength": strength, "sigma": sigma, "iterations": iterations,
                                  "model": model.signature if method == "model" and model else None})
        self.method, self.strength, self.sigma, self.iterations, self.model = method, strength, sigma, iterations, model

    def compute(self, frames: np.ndarray, first: int, start: int, stop: int) -> np.ndarray:
        x = to_float(frames[start - first: stop - first])
        if self.method == "model":
            y = self.model(x)
            return from_float(x + self.strength * (y - x), self.info.dtype)
        out = np.empty_like(x)
        for i, img in enumerate(x):
            sigma = self.sigma or estimate_blur_sigma(luma(img))
            if self.method == "unsharp":
                out[i] = unsharp(img, max(sigma, 0.8), self.strength)
            else:
                sharp = richardson_lucy(img, sigma, self.iterations)
                out[i] = img + self.strength * (sharp - img)
        return from_float(out, self.info.dtype)
