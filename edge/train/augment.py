"""Variations of a photo that a fixed henhouse camera produces anyway, for training a head.

The camera never moves, so the useful variations are few and known: an animal facing the other
way (flip), a motion crop that sits a little off-centre or a little tight (small crops), dawn,
dusk and sun (brightness), infra-red nights (greyscale), and a whole frame letterboxed to a square
(what ``crop_square`` gives when what moved fills the frame). Each variation is a pure function of
the picture, so the same photo always yields the same training set.

Every variation of a photo belongs to that photo: the split (``edge/train/split.py``) keeps a
photo and all its variations on the same side.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

import cv2
import numpy as np

from classifier.resize import resize

Augment = Callable[[np.ndarray], np.ndarray]

# Pictures are shrunk to this side before augmenting: the extractor sees 224 pixels, and
# camera-trap photos of 4000 pixels would only make every variation slow.
WORK_SIDE = 320
CROP_SHARE = 0.8
PAD_VALUE = 128


def shrink(rgb: np.ndarray, side: int = WORK_SIDE) -> np.ndarray:
    """``rgb`` with its shorter side at most ``side`` pixels (aspect kept)."""
    height, width = rgb.shape[:2]
    scale = side / min(height, width)
    if scale >= 1.0:
        return rgb
    return resize(rgb, max(1, round(width * scale)), max(1, round(height * scale)))


def flip(rgb: np.ndarray) -> np.ndarray:
    """Mirror left-right."""
    return np.ascontiguousarray(rgb[:, ::-1])


def grey(rgb: np.ndarray) -> np.ndarray:
    """What an IR-lit night frame looks like: one grey level copied to three channels."""
    return cv2.cvtColor(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)


def gain(factor: float) -> Augment:
    """Brightness times ``factor`` (saturating)."""
    table = np.clip(np.arange(256) * factor, 0, 255).astype(np.uint8)

    def apply(rgb: np.ndarray) -> np.ndarray:
        return cv2.LUT(np.ascontiguousarray(rgb), table)

    return apply


def crop(fy: float, fx: float, share: float = CROP_SHARE) -> Augment:
    """A window ``share`` of each side, its top-left at fractions (fy, fx) of the slack."""

    def apply(rgb: np.ndarray) -> np.ndarray:
        height, width = rgb.shape[:2]
        h, w = max(1, round(height * share)), max(1, round(width * share))
        y0, x0 = round((height - h) * fy), round((width - w) * fx)
        return np.ascontiguousarray(rgb[y0:y0 + h, x0:x0 + w])

    return apply


def letterbox(rgb: np.ndarray) -> np.ndarray:
    """The whole picture on a mid-grey square (nothing cut off)."""
    height, width = rgb.shape[:2]
    side = max(height, width)
    top, left = (side - height) // 2, (side - width) // 2
    return cv2.copyMakeBorder(rgb, top, side - height - top, left, side - width - left,
                              cv2.BORDER_CONSTANT, value=(PAD_VALUE,) * 3)


def low_contrast(share: float) -> Augment:
    """Contrast squeezed to ``share`` of itself around mid-grey: the flat look of a frame lit
    only by a weak IR lamp or by dusk."""
    table = np.clip(128 + (np.arange(256) - 128) * share, 0, 255).astype(np.uint8)

    def apply(rgb: np.ndarray) -> np.ndarray:
        return cv2.LUT(np.ascontiguousarray(rgb), table)

    return apply


def sensor_noise(sigma: float) -> Augment:
    """Gaussian grain of ``sigma`` grey levels, the same on the three channels (a night sensor at
    high gain). Seeded, so a picture always gets the same grain: variations stay pure functions."""

    def apply(rgb: np.ndarray) -> np.ndarray:
        grain = np.random.default_rng(0).normal(0.0, sigma, rgb.shape[:2]).astype(np.float32)
        return np.clip(rgb.astype(np.float32) + grain[..., None], 0, 255).astype(np.uint8)

    return apply


def tint(red: float, green: float, blue: float, saturation: float) -> Augment:
    """Colour kept at ``saturation`` of itself (the rest grey), then each channel times its
    factor: a NoIR camera's purple cast (red and blue up, green down), a porch lamp's orange."""
    factors = np.array([red, green, blue], dtype=np.float32)

    def apply(rgb: np.ndarray) -> np.ndarray:
        x = rgb.astype(np.float32)
        luma = x @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        mixed = luma[..., None] + saturation * (x - luma[..., None])
        return np.clip(mixed * factors, 0, 255).astype(np.uint8)

    return apply


def glare(fy: float, fx: float, strength: float = 170.0) -> Augment:
    """A lamp's glow: brightness added in a soft disc centred at fractions (fy, fx) of the frame,
    its radius half the shorter side, warm (more red than blue) like a porch light."""
    warm = np.array([1.0, 0.85, 0.6], dtype=np.float32)

    def apply(rgb: np.ndarray) -> np.ndarray:
        height, width = rgb.shape[:2]
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
        radius = 0.5 * min(height, width)
        d2 = ((yy - fy * height) ** 2 + (xx - fx * width) ** 2) / radius**2
        glow = strength * np.exp(-2.0 * d2)
        return np.clip(rgb.astype(np.float32) + glow[..., None] * warm, 0, 255).astype(np.uint8)

    return apply


def _then(first: Augment, second: Augment) -> Augment:
    return lambda rgb: second(first(rgb))


def _identity(rgb: np.ndarray) -> np.ndarray:
    return rgb


AUGMENTATIONS: dict[str, Augment] = {
    "original": _identity,
    "flip": flip,
    "grey": grey,
    "flip_grey": _then(flip, grey),
    "dark": gain(0.55),
    "bright": gain(1.35),
    "crop_centre": crop(0.5, 0.5),
    "crop_top_left": crop(0.0, 0.0),
    "crop_bottom_right": crop(1.0, 1.0),
    "letterbox": letterbox,
}

# train's default set: the day variations above (the figures in README were measured on these).
DEFAULT_AUGMENTATIONS: tuple[str, ...] = tuple(AUGMENTATIONS)

# What a night camera does to a picture (issue 13): the corpus has almost no hens under IR, so
# the head sees day photos made to look like IR (grey, flat, grainy), like a NoIR camera's
# purple false colour, and like a frame under a porch lamp's glare. Not in `train`'s default set
# (its measured figures stay as they were); `train --augment` and the default head's builder
# name them.
NIGHT_AUGMENTATIONS: dict[str, Augment] = {
    "ir_night": _then(_then(grey, low_contrast(0.55)), sensor_noise(9.0)),
    "ir_dark": _then(_then(grey, gain(0.5)), sensor_noise(6.0)),
    "noir_purple": _then(tint(1.2, 0.72, 1.25, 0.35), low_contrast(0.8)),
    "lamp_glare": _then(tint(1.1, 0.9, 0.65, 0.8), glare(0.15, 0.8)),
}
AUGMENTATIONS.update(NIGHT_AUGMENTATIONS)


# An empty scene stays empty in any part of it, and a motion crop of a shadow or of grass in the
# wind is such a part: background photos also give their quarters and centre at half size.
# Measured on /work/shared/data (5-fold held out, before clip examples and the empty-scene bar
# were added): empty scenes called predators 64 % -> 57 %, predator recall 0.968 -> 0.984.
BACKGROUND_TILES: dict[str, Augment] = {
    f"tile_{name}": crop(fy, fx, 0.5)
    for name, fy, fx in (("top_left", 0, 0), ("top_right", 0, 1), ("bottom_left", 1, 0),
                         ("bottom_right", 1, 1), ("centre", 0.5, 0.5))
}


# A flock: a camera over a run or a broiler house sees many small hens at once, which the
# photos of one hen never show (held out by camera, a broiler house under its lights was
# "chicken" on 1 of 10 frames, 10 of 10 with flocks; README, "The default head"). The default
# head's builder learns each hen picture also as this. Its cost: a group of predators in one
# moving region now leans towards "chicken" (measured there too).
FLOCK_SIDES = (3, 4)
# The tiles make up a square of about the models' input side (224), so nothing is lost to a
# second resize.
FLOCK_OUTPUT = 224
FLOCK_CROP = (0.7, 1.0)


def flock(rgb: np.ndarray) -> np.ndarray:
    """The picture as a flock: a 3 x 3 or 4 x 4 grid of its own square crops, each a random
    window of 70 to 100 % of its sides, every other one mirrored. Seeded by the picture's
    bytes, so the same picture always gives the same flock (variations stay pure functions)."""
    seed = zlib.crc32(np.ascontiguousarray(rgb).tobytes())
    rng = np.random.default_rng(seed)
    n = FLOCK_SIDES[seed % len(FLOCK_SIDES)]
    side = FLOCK_OUTPUT // n
    height, width = rgb.shape[:2]
    rows = []
    for r in range(n):
        tiles = []
        for c in range(n):
            share = rng.uniform(*FLOCK_CROP)
            h, w = max(1, int(height * share)), max(1, int(width * share))
            y0, x0 = rng.integers(0, height - h + 1), rng.integers(0, width - w + 1)
            window = rgb[y0:y0 + h, x0:x0 + w]
            if (r + c) % 2:
                window = window[:, ::-1]
            m = min(h, w)
            top, left = (h - m) // 2, (w - m) // 2
            tiles.append(resize(np.ascontiguousarray(window[top:top + m, left:left + m]),
                                side, side))
        rows.append(np.concatenate(tiles, axis=1))
    return np.ascontiguousarray(np.concatenate(rows, axis=0))


FLOCK_COPIES: dict[str, Augment] = {"flock": flock}


def augment_names(names: list[str] | None) -> list[str]:
    """The augmentations to use (``original`` always first); ValueError naming unknown ones."""
    chosen = list(DEFAULT_AUGMENTATIONS) if names is None else ["original", *names]
    unknown = [n for n in chosen if n not in AUGMENTATIONS]
    if unknown:
        raise ValueError(
            f"unknown augmentation(s) {', '.join(unknown)}; known: {', '.join(AUGMENTATIONS)}")
    return list(dict.fromkeys(chosen))


def variations(rgb: np.ndarray, names: list[str]) -> list[np.ndarray]:
    """The picture under each named augmentation (or background tile, or flock), in order."""
    small = shrink(rgb)
    return [{**AUGMENTATIONS, **BACKGROUND_TILES, **FLOCK_COPIES}[name](small) for name in names]
