"""Video upscaling on clips generated here (PyAV): frames, timing, audio and rotation kept,
the frames' content that of the frame upscaler, and no partial file on failure."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from srmeta.inference.video import upscale_video
from srmeta.metrics import psnr
from srmeta.resize import imresize

av = pytest.importorskip("av", reason="PyAV is the video extra: pip install 'srmeta[video]'")

FPS, FRAMES, RATE = 12, 9, 16000


def _frame(i: int, h: int = 24, w: int = 32) -> np.ndarray:
    """A moving gradient with a bright bar: content a codec keeps and a rotation shows."""
    ys, xs = np.mgrid[0:h, 0:w]
    rgb = np.stack([(xs * 8 + i * 10) % 256, (ys * 10) % 256, np.full_like(xs, 90)], -1)
    rgb[:4, :] = 255  # the top rows: where the rotation moves them is visible
    return rgb.astype(np.uint8)


def _clip(path: Path, rotation: int = 0, audio: bool = True) -> None:
    out = av.open(str(path), "w")
    video = out.add_stream("libx264", rate=FPS)
    video.width, video.height, video.pix_fmt = 32, 24, "yuv444p"
    video.options = {"crf": "0"}
    if rotation:
        video.set_display_rotation(rotation)
    sound = out.add_stream("aac", rate=RATE) if audio else None
    for i in range(FRAMES):
        for packet in video.encode(av.VideoFrame.from_ndarray(_frame(i), format="rgb24")):
            out.mux(packet)
    for packet in video.encode():
        out.mux(packet)
    if sound is not None:
        t = np.arange(RATE * FRAMES // FPS) / RATE
        tone = np.stack([0.3 * np.sin(2 * np.pi * 440 * t)] * 2).astype(np.float32)
        frame = av.AudioFrame.from_ndarray(tone, format="fltp", layout="stereo")
        frame.sample_rate, frame.pts = RATE, 0
        for packet in [*sound.encode(frame), *sound.encode()]:
            out.mux(packet)
    out.close()


def _x2(rgb: np.ndarray) -> np.ndarray:
    tensor = torch.from_numpy(rgb).permute(2, 0, 1)
    return imresize(tensor, 2.0).permute(1, 2, 0).numpy()


def _double(h: int, w: int) -> tuple[int, int]:
    return 2 * h, 2 * w


def _decoded(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as clip:
        return [f.to_ndarray(format="rgb24") for f in clip.decode(video=0)]


def test_frames_timing_and_audio_are_kept(tmp_path: Path) -> None:
    source, target = tmp_path / "clip.mp4", tmp_path / "clip_x2.mp4"
    _clip(source)
    seen: list[tuple[int, int | None]] = []
    result = upscale_video(source, target, _x2, _double, on_frame=lambda d, t: seen.append((d, t)))
    assert result.frames == FRAMES and result.size == (64, 48) and result.audio_streams == 1
    assert seen[-1] == (FRAMES, FRAMES) and len(seen) == FRAMES
    with av.open(str(source)) as a, av.open(str(target)) as b:
        vb = b.streams.video[0]
        assert (vb.width, vb.height) == (64, 48) and vb.average_rate == Fraction(FPS)
        assert [f.time for f in a.decode(video=0)] == [f.time for f in b.decode(video=0)]
        aa, ab = a.streams.audio[0], b.streams.audio[0]
        assert ab.codec_context.name == aa.codec_context.name == "aac"
        assert ab.sample_rate == RATE and ab.duration == aa.duration
    for original, upscaled in zip(_decoded(source), _decoded(target), strict=True):
        expected = torch.from_numpy(_x2(original)).double()
        assert psnr(torch.from_numpy(upscaled).double(), expected) > 30  # 4:2:0, CRF 18
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "clip_x2.mp4"]


def test_a_rotated_clip_is_written_upright(tmp_path: Path) -> None:
    source, target = tmp_path / "phone.mp4", tmp_path / "phone.mkv"
    _clip(source, rotation=90, audio=False)
    with av.open(str(source)) as clip:
        assert next(clip.decode(video=0)).rotation == 90
    result = upscale_video(source, target, _x2, _double)
    assert result.rotation == 90 and result.size == (48, 64)  # portrait now
    first = _decoded(target)[0]
    with av.open(str(target)) as clip:
        assert next(clip.decode(video=0)).rotation == 0
    # counter-clockwise by 90: the bright top rows become the left columns
    expected = _x2(np.ascontiguousarray(np.rot90(_frame(0))))
    assert psnr(torch.from_numpy(first).double(), torch.from_numpy(expected).double()) > 30
    assert first[:, :6].mean() > first[:, 20:].mean() + 60


def test_an_interrupted_upscale_leaves_no_file(tmp_path: Path) -> None:
    source, target = tmp_path / "clip.mp4", tmp_path / "out.mp4"
    _clip(source)
    calls = []

    def stop_at_three(rgb: np.ndarray) -> np.ndarray:
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return _x2(rgb)

    with pytest.raises(KeyboardInterrupt):
        upscale_video(source, target, stop_at_three, _double)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]
    target.write_bytes(b"keep")
    with pytest.raises(Exception, match="already exists; use --force"):
        upscale_video(source, target, _x2, _double)
    assert target.read_bytes() == b"keep"


def test_the_upscale_command_takes_a_clip(tmp_path: Path, capsys) -> None:
    from srmeta.cli import main

    source = tmp_path / "clip.mov"
    _clip(source)
    args = ["upscale", str(source), "--model", "bicubic", "--scale", "2", "--backend", "torch"]
    assert main([*args, "--quiet"]) == 0
    target = tmp_path / "clip_x2.mp4"  # a .mov is written as .mp4
    with av.open(str(target)) as clip:
        assert (clip.streams.video[0].width, clip.streams.video[0].height) == (64, 48)
        assert len(clip.streams.audio) == 1
    assert main([*args, "--ext", "mkv"]) == 0
    assert "with bicubic on torch: " in capsys.readouterr().out
    assert (tmp_path / "clip_x2.mkv").is_file()
    assert main([*args, "-o", str(tmp_path / "clip.png")]) == 2
    assert "a video is written as .mp4 or .mkv, not .png" in capsys.readouterr().err
    assert not (tmp_path / "clip.png").exists()
