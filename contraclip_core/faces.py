"""Faces aligned like FFHQ's, offline: find the face in a photo, crop and rotate it the way the FFHQ data set was.

    from contraclip_core.faces import align_face, NoFaceError
    face = align_face(picture, size=1024)  # picture: a PIL image or a uint8 array H×W, H×W×3 or H×W×4
    face.image             # PIL RGB image, size × size, aligned like an FFHQ image
    face.landmarks         # (68, 2) float: the face's landmarks in face.image, pixel indices (x, y)
    face.source_landmarks  # (68, 2) float: the same landmarks in the picture
    face.quad              # (4, 2) float: where face.image's corners lie in the picture (top-left, bottom-left,
                           #   bottom-right, top-right; pixel indices)
    face.score, face.faces # the detector's score of the face used (the best one) and how many faces it found

A picture with no face raises ``NoFaceError``; anything else that cannot be aligned (not an image, smaller than
``MIN_SIDE`` or over the upload cap, an unusable ``size``, the model package missing) raises ``FaceError`` (both in
errors.py, each with one sentence for the user).

**The model.** dlib's HOG frontal face detector (compiled into dlib, no file) and dlib's 68-point landmark model
``shape_predictor_68_face_landmarks.dat`` — the landmarks FFHQ itself was aligned with. The code comes from the PyPI
wheel ``dlib-bin`` (dlib built for CPython; Boost licence), the weights from the PyPI package
``face_recognition_models`` (CC0 packaging; dlib's model was trained on iBUG 300-W, whose licence excludes commercial
use). dlib reads the ``.dat`` file with its own C++ deserialiser: no pickle, no code executed from the file. The
package is located with ``importlib.util.find_spec``, without importing it (its ``__init__`` needs
``pkg_resources``).

**The procedure** (re-derived from ``recreate_aligned_images`` in NVlabs/ffhq-dataset): with the image-left eye
``eL`` (mean of landmarks 36–41), the image-right eye ``eR`` (42–47), the mouth corners 48 and 54 averaged into
``mouth``, ``eye_avg = (eL + eR) / 2``, ``e = eR − eL`` (eye to eye), ``m = mouth − eye_avg`` (eye to mouth), and
``rot(v) = (−v_y, v_x)`` (a quarter turn): ``x = (e − rot(m)) / |e − rot(m)| · max(2|e|, 1.8|m|)``, ``y = rot(x)``,
centre ``c = eye_avg + 0.1 m``, and the oriented square ``quad = (c − x − y, c − x + y, c + x + y, c + x − y)``.
The picture is shrunk when the square is much larger than the output, cropped to the square plus a 10 % border,
padded by reflection where the square leaves the picture (the padding blurred and faded to the median colour, as
FFHQ does), the square resampled bilinearly to ``4 × size`` (at most 4096; FFHQ: 4096 for 1024) and that reduced to
``size`` with a Lanczos filter. Differences from FFHQ's script, none visible in the result: coordinates are carried
as continuous positions (pixel index + ½) through every step, the shrink is to at most ``2 × size`` (FFHQ: an integer
factor leaving up to ``4 × size``; this bounds the memory the padding takes), and the padding's blur is PIL's.

**The template** (what the procedure guarantees about the aligned image, side ``S``, continuous coordinates):
``eye_avg + 0.1 m`` lands on the centre (S/2, S/2); ``max(2|e|, 1.8|m|)`` becomes S/2; the rotation leaves
``e_y = m_x``. For an upright face (eyes level, mouth centred beneath, ``|e| ≥ 0.9 |m|``, most faces): the eyes at
x = 3S/8 and 5S/8 on one row ``y_e``, the mouth centre at (S/2, ``y_m``) with ``0.9 y_e + 0.1 y_m = S/2``.
``template(eye_to_mouth, size)`` gives those three points for a given eye-to-mouth distance (in eye distances).
"""
from __future__ import annotations

import functools
import importlib.util
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFilter

from .errors import FaceError, NoFaceError
from .uploads import MAX_UPLOAD_PIXELS

__all__ = ["AlignedFace", "FaceError", "NoFaceError", "align_face", "detect", "ffhq_quad", "key_points",
           "template", "to_aligned", "warp", "MIN_SIDE", "MAX_SIZE"]

MIN_SIDE = 64  # the smallest picture side accepted: HOG finds no face under ≈ 40 px even with upsampling
MAX_SIZE = 4096  # the largest aligned side
MAX_TRANSFORM = 4096  # the supersampled square is 4 × size, at most this (FFHQ: 4096 for 1024)
DETECT_SIDE = 1024  # the picture is reduced to at most this side for detection (then upsampled 2× by dlib)
MODEL_PACKAGE = "face_recognition_models"
MODEL_FILE = "models/shape_predictor_68_face_landmarks.dat"
MISSING = ("face alignment needs the packages dlib-bin and face_recognition_models (both in requirements.txt); "
           "install them with: pip install -r requirements.txt")


@dataclass(frozen=True)
class AlignedFace:
    image: Image.Image  # RGB, size × size
    landmarks: np.ndarray  # (68, 2) in image
    source_landmarks: np.ndarray  # (68, 2) in the picture
    quad: np.ndarray  # (4, 2) in the picture: image's top-left, bottom-left, bottom-right, top-right corners
    score: float  # the detector's score of this face
    faces: int  # faces found in the picture (the best-scoring one was aligned)


# --- the model -----------------------------------------------------------------------------------------------

_lock = threading.Lock()  # dlib's objects are not documented as thread-safe: one detection at a time


def model_path() -> Path:
    """The 68-point landmark model's file inside the installed ``face_recognition_models`` (not imported)."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FaceError(MISSING)
    path = Path(list(spec.submodule_search_locations)[0]) / MODEL_FILE
    if not path.is_file():
        raise FaceError(f"the face landmark model is missing from the installed {MODEL_PACKAGE} ({path}); "
                        f"reinstall it with: pip install --force-reinstall {MODEL_PACKAGE}")
    return path


@functools.lru_cache(maxsize=1)
def models() -> tuple[Any, Any]:
    """(dlib's frontal face detector, the 68-point shape predictor), loaded once."""
    try:
        import dlib
    except ImportError as e:
        raise FaceError(MISSING) from e
    path = model_path()
    try:
        predictor = dlib.shape_predictor(str(path))  # dlib's own binary format, not a pickle
    except RuntimeError as e:
        raise FaceError(f"the face landmark model {path} cannot be read (truncated or corrupted): {e}") from e
    return dlib.get_frontal_face_detector(), predictor


# --- input ---------------------------------------------------------------------------------------------------

def as_rgb(picture: Any) -> np.ndarray:
    """A PIL image or a uint8 array (H×W, H×W×1, H×W×3 or H×W×4) → a C-contiguous uint8 H×W×3 array; alpha is
    composited on white. Anything else raises ``FaceError`` with one sentence."""
    if isinstance(picture, Image.Image):
        if picture.width * picture.height > MAX_UPLOAD_PIXELS:
            raise FaceError(f"the picture is {picture.width}×{picture.height} pixels; at most "
                            f"{MAX_UPLOAD_PIXELS / 1e6:.1f} M pixels are accepted")
        rgba = picture.convert("RGBA")
        rgb = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba).convert("RGB")
        array = np.asarray(rgb)
    elif isinstance(picture, np.ndarray):
        if picture.dtype != np.uint8:
            raise FaceError(f"the picture must be an array of uint8 pixels (0-255), not {picture.dtype}")
        if picture.ndim == 3 and picture.shape[2] == 1:
            picture = picture[:, :, 0]
        if picture.ndim == 2:
            array = np.repeat(picture[:, :, None], 3, axis=2)
        elif picture.ndim == 3 and picture.shape[2] in (3, 4):
            array = picture[:, :, :3]
            if picture.shape[2] == 4:
                alpha = picture[:, :, 3:].astype(np.float32) / 255.0
                array = np.rint(array * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
        else:
            raise FaceError(f"the picture must be an array of shape H×W, H×W×3 or H×W×4, not {picture.shape}")
        if array.shape[0] * array.shape[1] > MAX_UPLOAD_PIXELS:
            raise FaceError(f"the picture is {array.shape[1]}×{array.shape[0]} pixels; at most "
                            f"{MAX_UPLOAD_PIXELS / 1e6:.1f} M pixels are accepted")
    else:
        raise FaceError(f"the picture must be an image (PIL) or a uint8 array, not {type(picture).__name__}")
    if min(array.shape[:2]) < MIN_SIDE:
        raise FaceError(f"the picture is {array.shape[1]}×{array.shape[0]} pixels; a face photo needs at least "
                        f"{MIN_SIDE}×{MIN_SIDE}")
    return np.ascontiguousarray(array)


def check_size(size: Any) -> int:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not 16 <= size <= MAX_SIZE:
        raise FaceError(f"the aligned size must be a whole number of pixels from 16 to {MAX_SIZE}, not {size!r}")
    return int(size)


# --- detection -----------------------------------------------------------------------------------------------

def detect(picture: Any) -> tuple[np.ndarray, float, int]:
    """The best-scoring face's 68 landmarks (pixel indices x, y) in the picture, its score and the number of faces
    found. Detection runs on the picture reduced to at most ``DETECT_SIDE`` and upsampled 2× by dlib (faces from
    ≈ 40 px); the landmarks are fitted on the full-resolution picture. No face: ``NoFaceError``."""
    rgb = as_rgb(picture)
    detector, predictor = models()
    import dlib

    height, width = rgb.shape[:2]
    scale = min(1.0, DETECT_SIDE / max(height, width))
    small = rgb if scale == 1.0 else np.asarray(
        Image.fromarray(rgb).resize((max(1, round(width * scale)), max(1, round(height * scale))), Image.LANCZOS))
    with _lock:
        rects, scores, _ = detector.run(small, 1, 0.0)
        if len(rects) == 0:
            raise NoFaceError("no face was found in the picture: upload a photo with one face, seen from the front, "
                              "eyes open and unobstructed")
        best = int(np.argmax(scores))
        r = rects[best]
        box = dlib.rectangle(int(round(r.left() / scale)), int(round(r.top() / scale)),
                             int(round(r.right() / scale)), int(round(r.bottom() / scale)))
        shape = predictor(rgb, box)
    landmarks = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
    return landmarks, float(scores[best]), len(rects)


# --- FFHQ's geometry -----------------------------------------------------------------------------------------

def key_points(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(image-left eye centre, image-right eye centre, mouth centre) of 68 dlib landmarks, as FFHQ computes them."""
    lm = np.asarray(landmarks, dtype=np.float64)
    return lm[36:42].mean(axis=0), lm[42:48].mean(axis=0), (lm[48] + lm[54]) / 2.0


def ffhq_quad(landmarks: np.ndarray) -> np.ndarray:
    """FFHQ's oriented square for 68 landmarks: its corners (top-left, bottom-left, bottom-right, top-right) as
    pixel indices in the picture."""
    eye_left, eye_right, mouth = key_points(landmarks)
    eye_avg = (eye_left + eye_right) / 2.0
    e, m = eye_right - eye_left, mouth - eye_avg
    x = e - np.array([-m[1], m[0]])
    norm = math.hypot(*x)
    if not np.isfinite(norm) or norm == 0.0:
        raise FaceError("the face's landmarks are degenerate (eyes and mouth on one point)")
    x = x / norm * max(math.hypot(*e) * 2.0, math.hypot(*m) * 1.8)
    y = np.array([-x[1], x[0]])
    c = eye_avg + 0.1 * m
    return np.stack([c - x - y, c - x + y, c + x + y, c + x - y])


def to_aligned(points: np.ndarray, quad: np.ndarray, size: int) -> np.ndarray:
    """Pixel indices in the picture → pixel indices in the ``size`` × ``size`` image that ``warp`` makes of
    ``quad`` (the corners map to the image's corners; centres of pixels are at index + ½ on both sides)."""
    p = np.asarray(points, dtype=np.float64) + 0.5
    q = np.asarray(quad, dtype=np.float64) + 0.5
    basis = np.stack([q[3] - q[0], q[1] - q[0]], axis=1)  # columns: image x axis, image y axis
    return np.linalg.solve(basis, (p - q[0]).T).T * size - 0.5


def template(eye_to_mouth: float, size: int) -> np.ndarray:
    """Where FFHQ's procedure puts an upright face's image-left eye, image-right eye and mouth centre (pixel indices
    in a ``size`` image), for an eye-to-mouth distance of ``eye_to_mouth`` eye-to-eye distances."""
    half_side = max(2.0, 1.8 * eye_to_mouth)  # |x| in eye distances: the aligned image is 2|x| wide
    unit = size / (2.0 * half_side)  # one eye distance in output pixels
    eye_y = size / 2.0 - 0.1 * eye_to_mouth * unit
    points = np.array([[size / 2.0 - unit / 2.0, eye_y], [size / 2.0 + unit / 2.0, eye_y],
                       [size / 2.0, eye_y + eye_to_mouth * unit]])
    return points - 0.5


def warp(picture: Any, quad: np.ndarray, size: int) -> Image.Image:
    """FFHQ's resampling of ``quad`` (pixel indices in the picture) to a ``size`` × ``size`` RGB image: shrink,
    crop, reflect-pad with blur and median fade where the square leaves the picture, bilinear quad transform to
    ``4 × size`` (at most 4096), Lanczos reduction to ``size``."""
    size = check_size(size)
    image = Image.fromarray(as_rgb(picture))
    cq = np.asarray(quad, dtype=np.float64) + 0.5  # continuous coordinates from here on
    qsize = math.hypot(*(cq[3] - cq[0]))
    if not np.all(np.isfinite(cq)) or qsize < 1.0:
        raise FaceError("the crop square is degenerate")
    if qsize > 2 * size:  # shrink: keep at least 2 picture pixels per output pixel, no more
        factor = 2 * size / qsize
        new = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
        cq *= np.array(new, dtype=np.float64) / np.array(image.size, dtype=np.float64)
        image = image.resize(new, Image.LANCZOS)
        qsize = math.hypot(*(cq[3] - cq[0]))
    border = max(int(round(qsize * 0.1)), 3)
    lo, hi = np.floor(cq.min(axis=0)).astype(int), np.ceil(cq.max(axis=0)).astype(int)
    crop = (max(lo[0] - border, 0), max(lo[1] - border, 0),
            min(hi[0] + border, image.width), min(hi[1] + border, image.height))
    if crop[2] <= crop[0] or crop[3] <= crop[1]:
        raise FaceError("the crop square lies outside the picture")
    if crop != (0, 0, image.width, image.height):
        image = image.crop(crop)
        cq -= crop[:2]
    lo, hi = np.floor(cq.min(axis=0)).astype(int), np.ceil(cq.max(axis=0)).astype(int)
    pad = [max(-lo[0] + border, 0), max(-lo[1] + border, 0),
           max(hi[0] - image.width + border, 0), max(hi[1] - image.height + border, 0)]
    if max(pad) > border - 4:
        image, offset = pad_reflect(image, [max(p, int(round(qsize * 0.3))) for p in pad], qsize)
        cq += offset
    transform = max(size, min(4 * size, MAX_TRANSFORM))
    out = image.transform((transform, transform), Image.QUAD, tuple(cq.flatten()), Image.BILINEAR)
    return out.resize((size, size), Image.LANCZOS) if transform != size else out


def pad_reflect(image: Image.Image, pad: list[int], qsize: float) -> tuple[Image.Image, np.ndarray]:
    """FFHQ's padding: reflect ``pad`` (left, top, right, bottom) pixels, blur the padding more the farther from
    the picture, fade it to the median colour; returns the padded image and the shift of coordinates."""
    left, top, right, bottom = pad
    padded = np.pad(np.asarray(image), ((top, bottom), (left, right), (0, 0)), mode="reflect")
    h, w = padded.shape[:2]
    ys, xs = np.ogrid[:h, :w]
    mask = np.maximum(1.0 - np.minimum(xs.astype(np.float32) / left, (w - 1 - xs).astype(np.float32) / right),
                      1.0 - np.minimum(ys.astype(np.float32) / top, (h - 1 - ys).astype(np.float32) / bottom))
    mask = mask[:, :, None].astype(np.float32)
    blurred = np.asarray(Image.fromarray(padded).filter(ImageFilter.GaussianBlur(qsize * 0.02)), dtype=np.float32)
    out = padded.astype(np.float32)
    out += (blurred - out) * np.clip(mask * 3.0 + 1.0, 0.0, 1.0)
    del blurred
    out += (np.median(out, axis=(0, 1)) - out) * np.clip(mask, 0.0, 1.0)
    return Image.fromarray(np.clip(np.rint(out), 0, 255).astype(np.uint8), "RGB"), np.array([left, top], float)


# --- the whole ---------------------------------------------------------------------------------------------------

def align_face(picture: Any, size: int = 1024) -> AlignedFace:
    """Find the best face in ``picture`` (PIL image or uint8 array) and align it as FFHQ was, ``size`` pixels square
    (the face generator's resolution). ``NoFaceError`` if there is no face, ``FaceError`` for unusable input."""
    size = check_size(size)
    rgb = as_rgb(picture)
    landmarks, score, faces = detect(rgb)
    quad = ffhq_quad(landmarks)
    image = warp(rgb, quad, size)
    return AlignedFace(image=image, landmarks=to_aligned(landmarks, quad, size), source_landmarks=landmarks,
                       quad=quad, score=score, faces=faces)
