"""Video and image read/write: uint8 ``(T, H, W, 3)`` RGB arrays on PyAV (FFmpeg) and Pillow.

Reading: any file Pillow can decode (PNG, JPEG, animated GIF/WebP/PNG, ...) is read with
Pillow; everything else (mp4, webm, avi, mov, ...) with PyAV. Still images are one-frame
videos at ``IMAGE_FPS``. Alpha is dropped, not composited. Frames come out at their stored
size: non-square pixels and rotation metadata are ignored, and variable-frame-rate videos
are not resampled (``fps`` is the average rate).

Writing: H.264 in yuv420p, BT.709 limited range (tagged, so players convert back
correctly), ``+faststart``. yuv420p needs even sizes, so an odd height/width is padded by
one replicated edge row/column; the true size is stored in the mp4 metadata and the
readers here crop back to it, so tenku round-trips the exact shape while other players
show the one-pixel edge. Files are written to a hidden temp file next to the target and
renamed into place only when complete.
"""

from __future__ import annotations

import math
import numbers
import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from itertools import islice
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import ColorRange, Colorspace, Interpolation, VideoReformatter
from PIL import Image, ImageOps, UnidentifiedImageError

__all__ = [
    "IMAGE_FPS",
    "Video",
    "VideoInfo",
    "VideoWriter",
    "iter_video",
    "probe_video",
    "read_image",
    "read_video",
    "write_image",
    "write_video",
]

IMAGE_FPS = 8.0
"""fps given to still images read as videos (and to videos that declare no rate)."""

X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")
_SIZE_KEY = "tenku_frame_size"  # mp4 metadata key holding "WxH" when we padded an odd size
# swscale's default fast paths shift colours: a flat (100, 150, 200) comes back as (99, 149, 200)
# and smooth content ~1.2 levels dark on average. Exact rounding and full-resolution chroma
# interpolation remove the bias (round-trip error 2.2 -> 0.4 levels before H.264) for ~0.15 ms
# per 176x144 frame.
_TO_RGB = Interpolation.BILINEAR | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INT
_TO_YUV = (
    Interpolation.BICUBIC | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INT | Interpolation.FULL_CHR_H_INP
)
_NOT_VIDEO = {"tty"}  # FFmpeg demuxers that "play" any text file as ANSI art
_FLOAT_HINT = "floats are not rescaled: convert [0, 1] floats with (x * 255).round().clip(0, 255).astype(np.uint8)"


@dataclass(frozen=True)
class Video:
    frames: np.ndarray  # (T, H, W, 3) uint8 RGB
    fps: float


@dataclass(frozen=True)
class VideoInfo:
    """What ``probe_video`` learns from the header without decoding.

    ``num_frames`` comes from the container's frame count where it has one (mp4, avi, gif)
    and is otherwise estimated as ``round(duration * fps)`` (webm, mkv): treat it as an
    estimate. ``duration`` is in seconds.
    """

    width: int
    height: int
    fps: float
    num_frames: int
    duration: float


# ---------------------------------------------------------------- reading


@dataclass
class _Source:
    info: VideoInfo
    frames: Iterator[np.ndarray]  # (H, W, 3) uint8, one at a time
    close: Callable[[], None]


def read_video(path: str | os.PathLike, *, max_frames: int | None = None) -> Video:
    """Decode a video (or an image, as one frame at ``IMAGE_FPS``) into memory."""
    source = _open(path)
    try:
        frames = list(islice(source.frames, _check_count(max_frames, "max_frames")))
    finally:
        source.close()
    return Video(np.stack(frames), source.info.fps)  # (T, H, W, 3)


def iter_video(
    path: str | os.PathLike, chunk_frames: int = 16, *, max_frames: int | None = None
) -> Iterator[np.ndarray]:
    """Yield ``(t, H, W, 3)`` uint8 chunks, ``t <= chunk_frames``, holding one chunk at a time.

    The file is opened now, so a missing or unreadable file raises here, not at the first chunk.
    """
    chunk_frames = _check_count(chunk_frames, "chunk_frames")
    source = _open(path)
    frames = islice(source.frames, _check_count(max_frames, "max_frames"))

    def chunks() -> Iterator[np.ndarray]:
        try:
            while chunk := list(islice(frames, chunk_frames)):
                yield np.stack(chunk)  # (t, H, W, 3)
        finally:
            source.close()

    return chunks()


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Size, fps, frame count and duration, read from the header (see ``VideoInfo``)."""
    source = _open(path)
    source.close()
    return source.info


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read any image Pillow decodes as ``(H, W, 3)`` uint8 RGB (first frame if animated).

    EXIF orientation is applied, so phone photos come out upright.
    """
    path = _input_path(path)
    image = _open_pillow(path)
    if image is None:
        raise ValueError(f"{path}: not an image Pillow can read (use read_video for videos)")
    with image:
        return _pillow_rgb(image, upright=True)


def _open(path: str | os.PathLike) -> _Source:
    path = _input_path(path)
    image = _open_pillow(path)
    if image is not None:
        return _pillow_source(image, path)
    return _av_source(path)


def _input_path(path: str | os.PathLike) -> Path:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.is_dir():
        raise ValueError(f"{path}: is a directory, expected a video or image file")
    if path.stat().st_size == 0:
        raise ValueError(f"{path}: empty file (0 bytes)")
    return path


def _open_pillow(path: Path) -> Image.Image | None:
    """The opened image if Pillow recognises the file, None if it does not."""
    try:
        image = Image.open(path)
    except UnidentifiedImageError:
        return None
    try:
        image.load()  # Image.open only reads the header; fail on truncated data now
    except Exception as error:  # Pillow raises OSError, ValueError, SyntaxError, ... for bad data
        image.close()
        raise ValueError(f"{path}: corrupt or truncated {image.format} image ({error})") from None
    return image


def _pillow_rgb(image: Image.Image, *, upright: bool = False) -> np.ndarray:
    if upright:
        image = ImageOps.exif_transpose(image)
    return np.asarray(image.convert("RGB"))  # (H, W, 3)


def _pillow_source(image: Image.Image, path: Path) -> _Source:
    num_frames = getattr(image, "n_frames", 1)
    if num_frames == 1:
        frame = _pillow_rgb(image, upright=True)
        image.close()
        height, width, _ = frame.shape
        return _Source(VideoInfo(width, height, IMAGE_FPS, 1, 1 / IMAGE_FPS), iter([frame]), lambda: None)

    # Animated: the rate is the mean frame duration. Browsers show delays <= 10 ms as 100 ms,
    # and so do we. Some formats (WebP) only report a frame's duration once it is decoded.
    durations_ms = []
    try:
        for index in range(num_frames):
            image.seek(index)
            image.load()
            duration = float(image.info.get("duration") or 0)
            durations_ms.append(duration if duration > 10 else 100.0)
    except Exception as error:
        image.close()
        raise ValueError(f"{path}: corrupt {image.format} animation at frame {index} ({error})") from None
    seconds = sum(durations_ms) / 1000
    info = VideoInfo(image.width, image.height, num_frames / seconds, num_frames, seconds)

    def frames() -> Iterator[np.ndarray]:
        with image:
            for index in range(num_frames):
                image.seek(index)
                yield _pillow_rgb(image)

    return _Source(info, frames(), image.close)


def _av_source(path: Path) -> _Source:
    try:
        container = av.open(str(path), metadata_errors="replace")
    except av.error.FFmpegError as error:
        raise ValueError(f"{path}: not a readable video or image ({_reason(error)})") from None
    if container.format.name in _NOT_VIDEO:
        container.close()
        reason = f"FFmpeg would show it as {container.format.long_name}"
        raise ValueError(f"{path}: not a readable video or image ({reason})")
    if not container.streams.video:
        kinds = sorted({stream.type for stream in container.streams}) or ["none"]
        container.close()
        raise ValueError(f"{path}: no video stream (streams: {', '.join(kinds)})")
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"  # frame + slice threads: ~2x faster decode
    width, height = stream.codec_context.width, stream.codec_context.height
    width, height = _true_size(container.metadata.get(_SIZE_KEY), width, height)
    if width < 1 or height < 1:  # e.g. FFmpeg's image2 demuxer on a text file named .png
        container.close()
        raise ValueError(f"{path}: not a readable video or image (its video stream has no frame size)")

    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    fps = float(rate) if rate else IMAGE_FPS
    if stream.duration is not None and stream.time_base:
        duration = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        duration = container.duration / av.time_base
    else:
        duration = 0.0
    num_frames = stream.frames or round(duration * fps)
    if not duration:
        duration = num_frames / fps
    info = VideoInfo(width, height, fps, num_frames, duration)

    def frames() -> Iterator[np.ndarray]:
        reformatter = VideoReformatter()  # reused: one swscale context, ~3x faster than a new one per frame
        count = 0
        try:
            for frame in container.decode(stream):
                # Converts from the frame's own tagged colour matrix (BT.601 when untagged).
                rgb = reformatter.reformat(frame, format="rgb24", interpolation=_TO_RGB).to_ndarray()  # (H', W', 3)
                if count and rgb.shape[:2] != shape:
                    raise ValueError(f"{path}: frame size changed mid-stream from {shape} to {rgb.shape[:2]}")
                shape = rgb.shape[:2]
                count += 1
                yield rgb[:height, :width]
        except av.error.FFmpegError as error:
            raise ValueError(f"{path}: decoding failed after {count} frames ({_reason(error)})") from None
        finally:
            container.close()
        if count == 0:
            raise ValueError(f"{path}: video stream has no decodable frames")

    return _Source(info, frames(), container.close)


def _true_size(tag: str | None, width: int, height: int) -> tuple[int, int]:
    """Undo our own odd-size padding; anything else about the tag is ignored."""
    try:
        true_width, true_height = (int(value) for value in (tag or "").split("x"))
    except ValueError:
        return width, height
    if 0 <= width - true_width <= 1 and 0 <= height - true_height <= 1 and min(true_width, true_height) > 0:
        return true_width, true_height
    return width, height


def _reason(error: av.error.FFmpegError) -> str:
    return error.strerror or str(error)


def _check_count(value: int | None, name: str) -> int | None:
    if value is not None and (not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1):
        raise ValueError(f"{name} must be a positive int or None, got {value!r}")
    return None if value is None else int(value)


# ---------------------------------------------------------------- writing


def write_video(
    path: str | os.PathLike, frames: np.ndarray, fps: float, *, crf: float = 18, preset: str = "medium"
) -> None:
    """Write ``(T, H, W, 3)`` uint8 RGB frames as an H.264 yuv420p mp4, atomically.

    ``crf``: x264 quality, 0 (lossless luma) to 51; 18 is visually near-lossless.
    Odd sizes are padded by edge replication; see the module docstring.
    """
    path = Path(path)
    frames = _check_frames(frames, path, "frames", "(T, H, W, 3)")
    if len(frames) == 0:
        raise ValueError(f"{path}: frames is empty (T = 0); a video needs at least one frame")
    with VideoWriter(path, fps, crf=crf, preset=preset) as writer:
        writer.write(frames)


class VideoWriter:
    """Stream ``(t, H, W, 3)`` uint8 chunks into an H.264 mp4; the file appears on success.

        with VideoWriter("out.mp4", fps=24) as writer:
            for chunk in chunks:
                writer.write(chunk)

    Frames go to a hidden temp file next to ``path``, which replaces ``path`` on ``close()``
    (or a clean exit of the ``with`` block). An exception in the block, or ``abort()``,
    deletes the temp file and leaves any existing ``path`` untouched.
    """

    def __init__(self, path: str | os.PathLike, fps: float, *, crf: float = 18, preset: str = "medium"):
        self.path = _output_path(path)
        if self.path.suffix.lower() != ".mp4":
            raise ValueError(f"{self.path}: VideoWriter writes H.264 .mp4 files, got suffix {self.path.suffix!r}")
        if not _is_real(fps) or not math.isfinite(fps) or fps <= 0:
            raise ValueError(f"{self.path}: fps must be a finite number > 0, got {fps!r}")
        if not _is_real(crf) or not 0 <= crf <= 51:
            raise ValueError(f"{self.path}: crf must be in [0, 51], got {crf!r}")
        if preset not in X264_PRESETS:
            raise ValueError(f"{self.path}: preset must be one of {X264_PRESETS}, got {preset!r}")
        self.fps = fps
        # 30000/1001 given as 29.97002997 becomes exactly 30000/1001 again.
        self._rate = Fraction(float(fps)).limit_denominator(1001)
        # chromaloc=1 (centre) is where swscale puts the 4:2:0 chroma samples; without it decoders
        # assume H.264's default (left) and shift chroma half a pixel: 1.2 vs 0.4 levels error at crf 0.
        self._options = {"crf": str(float(crf)), "preset": preset, "x264-params": "chromaloc=1"}
        self._temp = _temp_path(self.path)
        self._container: av.container.OutputContainer | None = None
        self._stream = None
        self._reformatter = VideoReformatter()
        self._size: tuple[int, int] | None = None  # (H, W) of the first chunk
        self.num_frames = 0
        self._closed = False

    def write(self, frames: np.ndarray) -> None:
        """Append a ``(t, H, W, 3)`` uint8 chunk; every chunk must have the first chunk's H and W."""
        if self._closed:
            raise ValueError(f"{self.path}: write() on a closed VideoWriter")
        frames = _check_frames(frames, self.path, "chunk", "(t, H, W, 3)")
        if self._size is None:
            self._start(*frames.shape[1:3])
        elif frames.shape[1:3] != self._size:
            raise ValueError(f"{self.path}: chunk is {frames.shape[1:3]} (H, W) but the video is {self._size}")
        height, width = self._size
        if height % 2 or width % 2:
            frames = np.pad(frames, ((0, 0), (0, height % 2), (0, width % 2), (0, 0)), mode="edge")  # even H, W
        for array in frames:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(array), format="rgb24")
            frame = self._reformatter.reformat(
                frame,
                format="yuv420p",
                dst_colorspace=Colorspace.ITU709,
                dst_color_range=ColorRange.MPEG,
                interpolation=_TO_YUV,
            )
            frame.pts = self.num_frames  # in the codec time base, 1 / fps
            self._container.mux(self._stream.encode(frame))
            self.num_frames += 1

    def close(self) -> None:
        """Finish the file and move it into place. Raises ValueError if nothing was written."""
        if self._closed:
            return
        if self._container is None:
            self.abort()
            raise ValueError(f"{self.path}: no frames were written; nothing saved")
        try:
            self._container.mux(self._stream.encode(None))  # flush delayed (B-)frames
            self._container.close()
            self._closed = True
            _commit(self._temp, self.path)
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        """Drop everything written so far; ``path`` is left as it was."""
        self._closed = True
        if self._container is not None:
            try:
                self._container.close()
            except av.error.FFmpegError:
                pass  # already failing; the temp file goes either way
        self._temp.unlink(missing_ok=True)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def _start(self, height: int, width: int) -> None:
        self._size = (height, width)
        padded = (height % 2, width % 2) != (0, 0)
        # use_metadata_tags lets the mp4 muxer store our custom size key.
        movflags = "faststart+use_metadata_tags" if padded else "faststart"
        self._container = av.open(str(self._temp), "w", format="mp4", options={"movflags": movflags})
        if padded:
            self._container.metadata[_SIZE_KEY] = f"{width}x{height}"
        stream = self._container.add_stream("libx264", rate=self._rate)
        stream.width, stream.height = width + width % 2, height + height % 2
        stream.pix_fmt = "yuv420p"
        stream.options = self._options
        # Tag what write() converts with (AVCOL_* = 1: BT.709, limited range), so decoders agree.
        context = stream.codec_context
        context.colorspace = context.color_primaries = context.color_trc = 1
        context.color_range = ColorRange.MPEG
        self._stream = stream


def write_image(path: str | os.PathLike, frame: np.ndarray) -> None:
    """Write one ``(H, W, 3)`` uint8 RGB frame atomically; the format follows the suffix (.png: lossless)."""
    path = _output_path(path)
    image_format = Image.registered_extensions().get(path.suffix.lower())
    if image_format is None or image_format not in Image.SAVE:
        raise ValueError(f"{path}: Pillow cannot write {path.suffix!r} files; use .png")
    frame = _check_frames(frame[None] if isinstance(frame, np.ndarray) else frame, path, "frame", "(H, W, 3)")[0]
    temp = _temp_path(path)
    try:
        Image.fromarray(frame).save(temp, format=image_format)
        _commit(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def _check_frames(frames: object, path: Path, name: str, expected: str) -> np.ndarray:
    """Require a uint8 array shaped ``expected``; ``(H, W, 3)`` arrives here as ``(1, H, W, 3)``."""
    problem = None
    if not isinstance(frames, np.ndarray):
        problem = f"a {type(frames).__module__}.{type(frames).__name__}"
    elif frames.ndim != 4 or frames.shape[-1] != 3 or 0 in frames.shape[1:3]:
        shape = frames.shape[1:] if expected == "(H, W, 3)" else frames.shape
        problem = f"shape {shape}"
    elif frames.dtype != np.uint8:
        problem = f"dtype {frames.dtype}" + (f"; {_FLOAT_HINT}" if frames.dtype.kind == "f" else "")
    if problem:
        raise ValueError(f"{path}: {name} must be a uint8 numpy array shaped {expected} (RGB), got {problem}")
    return frames


def _is_real(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _output_path(path: str | os.PathLike) -> Path:
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path}: is a directory, expected a file path to write")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"{path}: directory {path.parent} does not exist")
    return path


def _commit(temp: Path, path: Path) -> None:
    with open(temp, "rb+") as file:
        os.fsync(file.fileno())  # the data must be on disk before the rename makes it visible
    os.replace(temp, path)


def _temp_path(path: Path) -> Path:
    # Same directory as the target, so os.replace is an atomic rename on one filesystem.
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
