"""Upscaling a video file frame by frame, streaming, with its audio and timing kept.

Frames are decoded, upscaled and encoded one at a time, so memory stays that of one frame
whatever the clip's length. The output keeps every frame's timestamp (so the frame rate and
any variable timing), and its audio streams are copied packet for packet, untouched. A
frame's display rotation (a phone's portrait clip) is applied on reading and the output is
written upright with none, as EXIF orientation is for images. The video is encoded with
x264 (CRF 18 by default, visually lossless for most content) in an MP4 or Matroska file.

The result is written through :func:`srmeta.atomic.atomic_open` (a hidden file beside the
target, renamed into place only when complete): an error or Ctrl-C leaves no partial video
behind.

Needs PyAV (``pip install srmeta[video]``); nothing else in srmeta imports it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from srmeta.atomic import atomic_open
from srmeta.errors import ImageError, SrmetaError

VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v")
CONTAINERS = {".mp4": "mp4", ".mkv": "matroska"}
DEFAULT_CRF = 18

FrameUpscaler = Callable[[np.ndarray], np.ndarray]
"""``H x W x 3`` uint8 RGB in, ``sH x sW x 3`` uint8 RGB out."""


@dataclass(frozen=True)
class VideoResult:
    frames: int
    size: tuple[int, int]  # output width, height
    audio_streams: int
    rotation: int  # degrees applied to the frames on reading


def is_video(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def _av() -> Any:
    try:
        import av
    except ImportError:
        raise SrmetaError(
            "upscaling a video needs PyAV: pip install 'srmeta[video]' (or pip install av)"
        ) from None
    return av


def upright(frame: np.ndarray, rotation: int) -> np.ndarray:
    """The frame as a player shows it: the display matrix's rotation is counter-clockwise."""
    turns = round(rotation / 90) % 4
    return np.ascontiguousarray(np.rot90(frame, k=turns)) if turns else frame


def _even_size(height: int, width: int) -> tuple[int, int]:
    """``(width, height)`` made even: x264's 4:2:0 drops an odd last row or column."""
    return width - width % 2, height - height % 2


def _first_frame(av: Any, source: Path) -> tuple[int, tuple[int, int]]:
    """The rotation and upright ``(height, width)`` of the first frame: the output stream
    must be declared before any packet is written, audio ones included."""
    with av.open(str(source)) as probe:
        if not probe.streams.video:
            raise ImageError(f"{source}: has no video stream")
        for frame in probe.decode(video=0):
            rotation = int(getattr(frame, "rotation", 0) or 0)
            h, w = frame.height, frame.width
            return rotation, ((w, h) if round(rotation / 90) % 2 else (h, w))
    raise ImageError(f"{source}: has no frames")


def upscale_video(
    source: str | os.PathLike,
    target: str | os.PathLike,
    upscale_frame: FrameUpscaler,
    size_for: Callable[[int, int], tuple[int, int]],
    *,
    force: bool = False,
    crf: int = DEFAULT_CRF,
    on_frame: Callable[[int, int | None], None] | None = None,
) -> VideoResult:
    """Upscale every frame of ``source`` into ``target`` (``.mp4`` or ``.mkv``);
    ``size_for(h, w)`` is the ``(height, width)`` ``upscale_frame`` makes of an ``h x w`` frame.

    ``on_frame(done, total)`` is called after each frame (``total`` None when the container
    does not say), for progress bars."""
    av = _av()
    source, target = Path(source), Path(target)
    container = CONTAINERS.get(target.suffix.lower())
    if container is None:
        raise SrmetaError(f"{target}: a video is written as .mp4 or .mkv")
    if source.resolve() == target.resolve():
        raise SrmetaError(f"{target}: would overwrite its input")
    try:
        inp = av.open(str(source))
    except av.FFmpegError as err:
        raise ImageError(f"{source}: not a readable video ({err})") from None
    rotation, (height, width) = _first_frame(av, source)
    size = _even_size(*size_for(height, width))
    with inp, atomic_open(target, force, ImageError) as handle:
        video_in = inp.streams.video[0]
        audio_in = list(inp.streams.audio)
        total = video_in.frames or None
        out = av.open(handle, "w", format=container)
        try:
            video_out = out.add_stream("libx264", rate=video_in.average_rate)
            video_out.width, video_out.height = size
            video_out.pix_fmt = "yuv420p"
            video_out.time_base = video_in.time_base
            video_out.options = {"crf": str(crf)}
            audio_out = {s.index: out.add_stream_from_template(s) for s in audio_in}
            done = 0
            for packet in inp.demux(video_in, *audio_in):
                if packet.stream.type == "audio":
                    if packet.dts is None:
                        continue  # the demuxer's flush packet
                    packet.stream = audio_out[packet.stream.index]
                    out.mux(packet)
                    continue
                for frame in packet.decode():
                    rgb = upright(frame.to_ndarray(format="rgb24"), rotation)
                    big = np.asarray(upscale_frame(rgb), dtype=np.uint8)[: size[1], : size[0]]
                    if (big.shape[1], big.shape[0]) != size:
                        raise ImageError(f"{source}: frame {done} changes the video's size")
                    encoded = av.VideoFrame.from_ndarray(np.ascontiguousarray(big), format="rgb24")
                    encoded.pts, encoded.time_base = frame.pts, frame.time_base
                    for out_packet in video_out.encode(encoded):
                        out.mux(out_packet)
                    done += 1
                    if on_frame is not None:
                        on_frame(done, total)
            for out_packet in video_out.encode():
                out.mux(out_packet)
        finally:
            out.close()
    return VideoResult(done, size, len(audio_in), rotation)
