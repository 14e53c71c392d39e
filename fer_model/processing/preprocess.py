"""Image reading and the pixel operations under FaceProcessor: any image -> RGB or grayscale
arrays, the crop of a face box (scaled, shifted, turned) and its resizing to the model's side.

FaceProcessor (fer_model.processing.processor) composes them and normalises the result, with its own
mean, std and size, so the numbers a model sees never depend on which entry point feeds it.
"""

from __future__ import annotations

import io
import os
import warnings
from typing import Sequence, Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import ImageError

# Larger images are refused before decoding: a 1 kB PNG can claim 50,000 x 50,000 pixels.
MAX_IMAGE_PIXELS = 64_000_000
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS

ImageLike = Union[Image.Image, np.ndarray]

WIDE_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N")  # integer pixels beyond 8 bits
ALPHA_MODES = ("RGBA", "LA", "PA", "P", "RGBa", "La")  # may carry transparency


# File suffixes of the images the package reads (PIL), in folders of FER-2013 faces and of photos.
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff", ".pgm"})

def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ALPHA_MODES or "transparency" in image.info


def load_image(source: Union[str, os.PathLike, bytes, io.IOBase]) -> Image.Image:
    """Open an image file (path, bytes or file object), upright per its EXIF orientation.

    Raises:
        ImageError: empty, non-image, corrupt or truncated data, or more than
            :data:`MAX_IMAGE_PIXELS` pixels (refused before the pixels are decoded).
    """
    name = str(source) if isinstance(source, (str, os.PathLike)) else "image data"
    data = source if not isinstance(source, bytes) else io.BytesIO(source)
    if isinstance(source, (str, os.PathLike)) and os.path.getsize(source) == 0:
        raise ImageError(f"{name}: the file is empty")
    if isinstance(source, bytes) and not source:
        raise ImageError("the image data is empty")
    try:
        with warnings.catch_warnings():  # the size check below refuses such images with a clearer message
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(data)
        width, height = image.size
        if width * height > MAX_IMAGE_PIXELS:
            raise ImageError(
                f"{name}: {width}x{height} pixels is more than the {MAX_IMAGE_PIXELS:,} accepted; "
                "downscale it first"
            )
        image.load()
        return ImageOps.exif_transpose(image)
    except ImageError:
        raise
    except UnidentifiedImageError as error:
        raise ImageError(f"{name}: not a readable image file (PNG, JPEG, WebP, BMP, GIF and TIFF are)") from error
    except Image.DecompressionBombError as error:
        raise ImageError(f"{name}: too many pixels to decode safely ({error})") from error
    except (OSError, SyntaxError, ValueError) as error:  # truncated or corrupt pixel data
        raise ImageError(f"{name}: the image data is corrupt or truncated ({error})") from error


def to_grayscale(image: ImageLike) -> np.ndarray:
    """Any image -> uint8 grayscale (H, W), luminance-weighted (ITU-R 601: .299 R + .587 G + .114 B).

    Accepts PIL images of any mode (RGBA and palette images are laid on white; 16-bit ones are
    scaled to 8 bits) and numpy arrays (H, W), (H, W, 1), (H, W, 3) RGB or (H, W, 4) RGBA, of
    uint8, uint16 or float in [0, 1].
    """
    if isinstance(image, np.ndarray):
        image = _array_to_pil(image)
    if not isinstance(image, Image.Image):
        raise ImageError(f"expected a PIL image or a numpy array, got {type(image).__name__}")
    if image.width < 1 or image.height < 1:
        raise ImageError(f"the image has no pixels ({image.width}x{image.height})")
    if image.mode == "F":  # PIL's float mode keeps the 0-255 scale
        return np.clip(np.asarray(image), 0, 255).round().astype(np.uint8)
    if image.mode in WIDE_MODES:
        return _wide_to_uint8(np.asarray(image))
    if _has_alpha(image):
        image = _on_white(image.convert("RGBA"))
    return np.asarray(image.convert("L"), dtype=np.uint8)


def to_rgb(image: ImageLike) -> np.ndarray:
    """A PIL image of any mode, or an array as :func:`to_grayscale` takes it -> uint8 RGB (H, W, 3)
    for display and face detection, with the same handling of transparency and 16-bit pixels."""
    if isinstance(image, np.ndarray):
        if image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8:
            return image
        image = _array_to_pil(image)
    if image.mode in WIDE_MODES + ("F", "1", "L"):
        return np.repeat(to_grayscale(image)[:, :, None], 3, axis=2)
    if _has_alpha(image):
        image = _on_white(image.convert("RGBA"))
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def _array_to_pil(array: np.ndarray) -> Image.Image:
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim == 2 and array.dtype != np.uint8:
        return Image.fromarray(_wide_to_uint8(array))
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise ImageError(f"expected an image array (H, W), (H, W, 3) or (H, W, 4), got shape {array.shape}")
    if array.dtype != np.uint8:
        array = _wide_to_uint8(array)
    return Image.fromarray(np.ascontiguousarray(array))


def _wide_to_uint8(array: np.ndarray) -> np.ndarray:
    """16-bit, 32-bit or float pixels -> uint8, scaled by the range their type implies."""
    if np.issubdtype(array.dtype, np.floating):
        return (np.clip(array, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    top = 255 if array.max(initial=0) <= 255 else 65535
    return (array.astype(np.float32) * (255.0 / top) + 0.5).clip(0, 255).astype(np.uint8)


def _on_white(image: Image.Image) -> Image.Image:
    background = Image.new("RGBA", image.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, image)


def resize_face(gray: np.ndarray, size: int) -> np.ndarray:
    """A grayscale face crop (H, W) -> (size, size) uint8, antialiased when shrinking."""
    if gray.shape == (size, size):
        return gray
    return np.asarray(Image.fromarray(gray).resize((size, size), Image.BILINEAR), dtype=np.uint8)


def crop_face(gray: np.ndarray, box: tuple[int, int, int, int], scale: float = 1.0,
              shift: Sequence[float] = (0.0, 0.0), angle: float = 0.0) -> np.ndarray:
    """The square around a face: side `scale` x the box's longer side, centred on the box's centre
    moved by `shift` (x, y) times that longer side, and turned with a face tilted by `angle` degrees
    (counter-clockwise as seen, :func:`eye_angle`), so that the face comes out level.

    Where that square leaves the image, the nearest edge pixels are repeated, so a face at the
    border keeps its framing and aspect ratio.
    """
    x, y, w, h = box
    longer = max(w, h)
    side = max(1, int(round(longer * scale)))
    cx, cy = x + w / 2 + shift[0] * longer, y + h / 2 + shift[1] * longer
    height, width = gray.shape
    if angle:
        import cv2

        matrix = cv2.getRotationMatrix2D((cx, cy), -angle, 1.0)  # turns the content back by `angle`
        matrix[:, 2] += (side / 2 - cx, side / 2 - cy)  # then moves that centre to the crop's
        return cv2.warpAffine(gray, matrix, (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    left, top = int(round(cx - side / 2)), int(round(cy - side / 2))
    inside = gray[max(0, top):min(height, top + side), max(0, left):min(width, left + side)]
    if inside.size == 0:
        raise ImageError(f"the face box {tuple(box)} lies outside the {width}x{height} image")
    pad = ((max(0, -top), max(0, top + side - height)), (max(0, -left), max(0, left + side - width)))
    return np.pad(inside, pad, mode="edge") if any(sum(p) for p in pad) else inside


def eye_angle(landmarks: Sequence[Sequence[float]] | None) -> float:
    """The tilt of the line from the right eye to the left eye (YuNet's first two landmarks), in
    degrees, counter-clockwise as seen; 0 without landmarks."""
    if landmarks is None:
        return 0.0
    (rx, ry), (lx, ly) = landmarks[0], landmarks[1]
    return float(np.degrees(np.arctan2(ry - ly, lx - rx)))


def face_views(gray: np.ndarray, box: tuple[int, int, int, int], size: int, crop_scale: float = 1.0,
               scales: Sequence[float] = (1.0,), flip: bool = False, shift: Sequence[float] = (0.0, 0.0),
               angle: float = 0.0) -> np.ndarray:
    """The model inputs of one face, uint8 (V, size, size): a crop per entry of `scales` (each
    times `crop_scale`, all about the same centre and turned by `angle`), each followed by its
    mirror image when `flip`. View 0 is the plain crop when `scales` starts with 1.0."""
    views = []
    for scale in scales:
        face = resize_face(np.ascontiguousarray(crop_face(gray, box, crop_scale * scale, shift, angle)), size)
        views.append(face)
        if flip:
            views.append(face[:, ::-1])
    return np.ascontiguousarray(np.stack(views))
