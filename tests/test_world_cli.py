"""`tenku world render`: mp4 files plus index.jsonl of captions and ground truth."""

import argparse
import json

import numpy as np
import pytest

from tenku.world import parse_prompt
from tenku.world.cli import add_world_commands


def run(argv):
    parser = argparse.ArgumentParser(prog="tenku")
    add_world_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.handler(args)


def test_render_writes_videos_and_index(tmp_path, capsys):
    from tenku.io import read_video

    out = tmp_path / "clips"
    argv = ["world", "render", "--num", "2", "--size", "32x32", "--seconds", "1", "--split", "test", "--seed", "5"]
    assert run([*argv, "--out", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    records = [json.loads(line) for line in (out / "index.jsonl").read_text().splitlines()]
    assert len(records) == 2 and [r["seed"] for r in records] == [5, 6]
    for record in records:
        video = read_video(out / record["video"])
        assert video.frames.shape == (9, 32, 32, 3) and video.fps == 8
        assert record["frames"] == 9 and record["size"] == [32, 32] and record["fps"] == 8
        assert record["split"] == "test" and record["caption"] == record["captions"][0]
        assert {"background", "camera"} <= set(record)
        spec = parse_prompt(record["caption"])
        assert [o.color for o in spec.objects] == [o["color"] for o in record["objects"]]
        for obj in record["objects"]:
            assert {"color", "shape", "size", "motion", "track", "visible", "radius"} <= set(obj)
            assert np.shape(obj["track"]) == (9, 2) and len(obj["visible"]) == 9
            # The object's colour is where the truth says it is, up to H.264 error.
            x, y = (int(v) for v in obj["track"][0])
            if obj["visible"][0] == 1.0:
                assert np.abs(video.frames[0, y, x].astype(int) - obj["rgb"]).max() < 40
    # Same arguments, same output.
    run([*argv, "--out", str(tmp_path / "again")])
    assert (tmp_path / "again" / "index.jsonl").read_text() == (out / "index.jsonl").read_text()


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--size", "30x32"], "multiple of 8"),
        (["--size", "64"], "WxH"),
        (["--split", "val"], "train, test"),
        (["--num", "0"], "--num"),
        (["--seconds", "0"], "--seconds"),
        (["--fps", "-1"], "fps"),
    ],
)
def test_bad_arguments_raise_clear_errors(tmp_path, extra, message):
    with pytest.raises(ValueError, match=message):
        run(["world", "render", "--num", "1", "--out", str(tmp_path), *extra])


def test_main_reports_errors_in_one_line(tmp_path, capsys):
    pytest.importorskip("tenku.eval.cli")  # the top-level parser also registers the evaluator
    from tenku.cli import main

    assert main(["world", "render", "--num", "1", "--out", str(tmp_path), "--size", "33x32"]) == 2
    assert "multiple of 8" in capsys.readouterr().err
