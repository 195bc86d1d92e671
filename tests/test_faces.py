"""FFHQ-style face alignment (contraclip_core/faces.py) on a public-domain photo that scikit-image ships.

The astronaut (Eileen Collins, NASA, public domain) is aligned at 1024 px; dlib's landmarks are then detected again
on the aligned image and must lie within a few pixels of where FFHQ's procedure puts them: the ``template`` derived in
the module's docstring (eyes at 3/8 and 5/8 of the width, ``eye_avg + 0.1·eye_to_mouth`` at the centre), and
aligning the aligned image again must give (nearly) its own corners. Measured with dlib-bin 20.0.1.post1: eyes and
mouth 0.4-1.9 px from the template, 1.0-2.7 px from the mapped source landmarks, corners within 3.3 px.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image
from skimage import data as skimage_data  # scikit-image: requirements-dev.txt

from contraclip_core import faces
from contraclip_core.errors import ContraCLIPError, FaceError, NoFaceError

SIZE = 1024
TOLERANCE_PX = 4.0  # at 1024 px the eyes are 256 px apart: 4 px is 1.6 % of that


def distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.hypot(*(np.asarray(a) - np.asarray(b)).T)


@pytest.fixture(scope="module")
def astronaut():
    return skimage_data.astronaut()  # 512 × 512 RGB uint8


@pytest.fixture(scope="module")
def aligned(astronaut):
    return faces.align_face(astronaut, size=SIZE)


def test_the_astronauts_face_is_found_where_it_is(aligned):
    eye_left, eye_right, mouth = faces.key_points(aligned.source_landmarks)
    # Read off the photo: her eyes are near (203, 101) and (246, 104), her mouth near (224, 140).
    assert distances([eye_left, eye_right, mouth], [[203, 101], [246, 104], [224, 140]]).max() < 5
    assert aligned.score > 0.5
    assert aligned.faces >= 1


def test_aligned_image_has_the_requested_size(aligned, astronaut):
    assert aligned.image.size == (SIZE, SIZE) and aligned.image.mode == "RGB"
    assert aligned.landmarks.shape == aligned.source_landmarks.shape == (68, 2)
    small = faces.align_face(Image.fromarray(astronaut), size=256)
    assert small.image.size == (256, 256)
    np.testing.assert_allclose(small.landmarks, aligned.landmarks * 256 / SIZE + (256 / SIZE - 1) / 2, atol=1e-6)


def test_redetected_landmarks_sit_on_ffhqs_template(aligned):
    """The measured figures are printed (pytest -s) and quoted in the module docstring."""
    eye_left, eye_right, mouth = faces.key_points(aligned.source_landmarks)
    ratio = math.hypot(*(mouth - (eye_left + eye_right) / 2)) / math.hypot(*(eye_right - eye_left))
    template = faces.template(ratio, SIZE)
    redetected, _, _ = faces.detect(aligned.image)
    found = np.stack(faces.key_points(redetected))
    to_template = distances(found, template)
    to_mapped = distances(found, np.stack(faces.key_points(aligned.landmarks)))
    print(f"\neye-to-mouth/eye-to-eye {ratio:.3f}; re-detected eyes, mouth vs template (px): {to_template.round(2)}; "
          f"vs mapped source landmarks: {to_mapped.round(2)}")
    assert to_template.max() < TOLERANCE_PX, to_template
    assert to_mapped.max() < TOLERANCE_PX, to_mapped
    # The template's fixed parts directly: eyes at 3/8 and 5/8 of the width (this face has |e| ≥ 0.9 |m|)
    assert ratio < 1 / 0.9
    assert abs(found[0, 0] + 0.5 - 3 * SIZE / 8) < TOLERANCE_PX and abs(found[1, 0] + 0.5 - 5 * SIZE / 8) < TOLERANCE_PX
    # An aligned face is a fixed point of the procedure: aligning it again gives (nearly) its own corners.
    corners = np.array([[0, 0], [0, SIZE], [SIZE, SIZE], [SIZE, 0]], dtype=float) - 0.5
    corner_error = distances(faces.ffhq_quad(redetected), corners)
    print(f"re-aligned corners vs the image's (px): {corner_error.round(2)}")
    assert corner_error.max() < 5.0, corner_error


def test_quad_obeys_ffhqs_rules_for_any_face():
    """The closed form in the docstring, on random faces (tilted, turned, long or wide): the centre point, the
    scale and the rotation's balance, in the aligned image."""
    rng = np.random.default_rng(0)
    for _ in range(200):
        landmarks = np.zeros((68, 2))
        landmarks[36:42] = rng.uniform(0, 1000, 2)
        landmarks[42:48] = landmarks[36] + rng.uniform(-200, 200, 2)
        landmarks[48] = rng.uniform(0, 1000, 2)
        landmarks[54] = landmarks[48] + rng.uniform(-100, 100, 2)
        quad = faces.ffhq_quad(landmarks)
        side = np.hypot(*(quad[3] - quad[0]))
        assert np.hypot(*(quad[1] - quad[0])) == pytest.approx(side) and np.dot(quad[3] - quad[0], quad[1] - quad[0]) \
            == pytest.approx(0, abs=1e-6 * side**2)  # a square
        eye_left, eye_right, mouth = (faces.to_aligned(p[None], quad, SIZE)[0] + 0.5 for p in
                                      faces.key_points(landmarks))
        e, m = eye_right - eye_left, mouth - (eye_left + eye_right) / 2
        np.testing.assert_allclose((eye_left + eye_right) / 2 + 0.1 * m, [SIZE / 2, SIZE / 2], atol=1e-6)
        assert max(2 * np.hypot(*e), 1.8 * np.hypot(*m)) == pytest.approx(SIZE / 2)
        assert e[1] == pytest.approx(m[0], abs=1e-6)
    # An upright face lands on the template
    upright = np.zeros((68, 2))
    upright[36:42], upright[42:48], upright[48], upright[54] = (100, 200), (160, 200), (110, 254), (150, 254)
    quad = faces.ffhq_quad(upright)
    np.testing.assert_allclose(faces.to_aligned(np.stack(faces.key_points(upright)), quad, 512),
                               faces.template(54 / 60, 512), atol=1e-9)
    np.testing.assert_allclose(faces.template(54 / 60, 512)[:2, 0] + 0.5, [3 * 512 / 8, 5 * 512 / 8])


def blobs(shape: tuple[int, int], centres: np.ndarray, sigma: float) -> np.ndarray:
    ys, xs = np.mgrid[: shape[0], : shape[1]]
    image = np.full(shape, 20.0)
    for x, y in centres:
        image += 230 * np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma**2))
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def centroid(image: np.ndarray, near: np.ndarray, radius: int) -> np.ndarray:
    x0, y0 = np.rint(near).astype(int)
    window = image[y0 - radius: y0 + radius + 1, x0 - radius: x0 + radius + 1].astype(float)
    window = np.clip(window - np.median(image), 0, None)
    ys, xs = np.mgrid[y0 - radius: y0 + radius + 1, x0 - radius: x0 + radius + 1]
    return np.array([(xs * window).sum(), (ys * window).sum()]) / window.sum()


@pytest.mark.parametrize("case", ["inside", "padded", "shrunk"])
def test_warp_puts_points_where_to_aligned_says(case):
    """Without the detector: bright dots in a picture, a tilted square over them (inside the picture, leaving it so
    that it is padded, or much larger than the output so that the picture is shrunk first); each dot's centre in the
    warped image must be where ``to_aligned`` maps it."""
    size = 128
    shape, centre, half, sigma = {"inside": ((300, 400), (200, 150), 90, 2.0),
                                  "padded": ((300, 400), (60, 70), 90, 2.0),
                                  "shrunk": ((1200, 1300), (650, 600), 500, 8.0)}[case]
    turn = math.radians(17)
    x = half * np.array([math.cos(turn), math.sin(turn)])
    y = np.array([-x[1], x[0]])
    c = np.array(centre, dtype=float)
    quad = np.stack([c - x - y, c - x + y, c + x + y, c + x - y])
    dots = c + np.array([[0.0, 0.0], [-0.4, -0.3], [0.45, -0.2], [0.2, 0.5], [-0.3, 0.35]]) @ np.stack([x, y])
    picture = blobs(shape, dots, sigma)
    warped = np.asarray(faces.warp(picture, quad, size).convert("L"))
    expected = faces.to_aligned(dots, quad, size)
    found = np.stack([centroid(warped, p, 6) for p in expected])
    assert distances(found, expected).max() < 0.2, (found, expected)  # measured: 0.005, 0.10, 0.005 px


@pytest.mark.parametrize("picture", ["coffee", "flat", "noise"])
def test_a_picture_without_a_face_gets_a_sentence(picture):
    image = {"coffee": lambda: skimage_data.coffee(),  # a cup of coffee on a table
             "flat": lambda: np.full((300, 300, 3), 128, np.uint8),
             "noise": lambda: np.random.default_rng(0).integers(0, 256, (300, 300, 3), dtype=np.uint8)}[picture]()
    with pytest.raises(NoFaceError, match="no face was found in the picture") as info:
        faces.align_face(image, size=256)
    assert isinstance(info.value, ContraCLIPError) and str(info.value).count(".") == 0  # one sentence, no trace


@pytest.mark.parametrize("picture, message", [
    (np.zeros((300, 300, 3), np.float32), "uint8 pixels"),
    (np.zeros((300, 300, 2), np.uint8), "shape H×W, H×W×3 or H×W×4"),
    (np.zeros((2, 300, 300, 3), np.uint8), "shape H×W, H×W×3 or H×W×4"),
    (np.zeros((20, 20, 3), np.uint8), "needs at least 64×64"),
    (Image.new("RGB", (30, 500)), "needs at least 64×64"),
    (np.zeros((4097, 4097), np.uint8), "M pixels are accepted"),
    ([[0, 1], [2, 3]], "not list"),
    ("face.png", "not str"),
])
def test_garbage_input_gets_a_sentence(picture, message):
    with pytest.raises(FaceError, match=message):
        faces.align_face(picture, size=256)


@pytest.mark.parametrize("size", [0, 8, 5000, 256.0, "1024", True, None])
def test_bad_size_gets_a_sentence(astronaut, size):
    with pytest.raises(FaceError, match="aligned size must be a whole number"):
        faces.align_face(astronaut, size=size)


def test_grey_and_transparent_pictures_are_read(astronaut, aligned):
    grey = np.asarray(Image.fromarray(astronaut).convert("L"))
    rgba = np.concatenate([astronaut, np.full((512, 512, 1), 255, np.uint8)], axis=2)
    for picture in (grey, rgba, Image.fromarray(rgba)):
        landmarks, _, _ = faces.detect(picture)
        assert distances(landmarks, aligned.source_landmarks).mean() < 1.5


def test_a_missing_or_broken_model_gets_a_sentence(monkeypatch, tmp_path):
    monkeypatch.setattr(faces, "MODEL_PACKAGE", "no_such_face_models_package")
    with pytest.raises(FaceError, match="pip install -r requirements.txt"):
        faces.model_path()
    broken = tmp_path / "shape_predictor_68_face_landmarks.dat"
    broken.write_bytes(b"\x00\x01not a dlib model" * 10)
    monkeypatch.setattr(faces, "model_path", lambda: broken)
    with pytest.raises(FaceError, match="cannot be read"):
        faces.models.__wrapped__()
