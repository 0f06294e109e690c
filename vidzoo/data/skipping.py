"""Which packets of a clip's span the decoder must decode, and which it may skip.

A clip keeps a few frames of its span (8 of about 60 for a 2 s Kinetics clip). The decoder
must decode each kept frame and the frames it references, and nothing else:
- a frame that is not kept and that no other frame references (a non-reference B-frame) is
  skipped by the decoder itself (``skip_frame="NONREF"``);
- in H.264, an IDR frame starts afresh: no frame after it in decode order references a frame
  before it. So every packet between the last kept frame and the IDR frame before the next kept
  frame is skipped entirely (``skip_frame="ALL"``); with `vidzoo prepare`'s short keyframe
  interval most of a span's reference frames are in such gaps.
Only IDR frames count: an H.264 I-frame that is not IDR (open GOP) may be followed by frames
that reference frames before it. Other codecs get the non-reference skipping only.
"""

from __future__ import annotations

DECODE, IF_REFERENCED, SKIP = "DEFAULT", "NONREF", "ALL"  # PyAV skip_frame values
_IDR, _NON_IDR_SLICE = 5, 1  # H.264 NAL unit types


def _nal_length_size(stream) -> int | None:
    """Bytes of each NAL unit's length prefix (MP4/MKV "avcC" packets), or None for Annex B start codes."""
    extradata = stream.codec_context.extradata
    if extradata and len(extradata) > 4 and extradata[0] == 1:
        return (extradata[4] & 0x03) + 1
    return None


def _nal_types(data: bytes, length_size: int | None):
    if length_size is None:
        i = data.find(b"\x00\x00\x01")
        while i != -1 and i + 3 < len(data):
            yield data[i + 3] & 0x1F
            i = data.find(b"\x00\x00\x01", i + 3)
        return
    pos = 0
    while pos + length_size < len(data):
        size = int.from_bytes(data[pos:pos + length_size], "big")
        yield data[pos + length_size] & 0x1F
        pos += length_size + size


def is_idr(packet, length_size: int | None) -> bool:
    """True when an H.264 packet holds an IDR slice (its first slice decides)."""
    for nal_type in _nal_types(bytes(packet), length_size):
        if nal_type in (_IDR, _NON_IDR_SLICE):
            return nal_type == _IDR
    return False


def skip_modes(stream, packets, wanted) -> list[str]:
    """The skip_frame value for each packet (in decode order) so that the frames whose pts are in
    ``wanted`` come out exactly as a full decode gives them."""
    modes = [DECODE if p.pts in wanted else IF_REFERENCED for p in packets]
    if stream.codec_context.name != "h264":
        return modes
    length_size = _nal_length_size(stream)
    needed_from = 0  # packets before this index are needed by a kept frame already passed
    last_idr = None
    for i, packet in enumerate(packets):
        if packet.is_keyframe and is_idr(packet, length_size):
            last_idr = i
        if modes[i] == DECODE:
            if last_idr is not None and last_idr > needed_from:
                modes[needed_from:last_idr] = [SKIP] * (last_idr - needed_from)
            needed_from = i + 1
    if needed_from < len(modes):  # after the last kept frame in decode order nothing is needed
        modes[needed_from:] = [SKIP] * (len(modes) - needed_from)
    return modes
