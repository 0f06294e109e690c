"""The PNG strip of a timeline: its segments' labels over time, each window's top class, a time axis, a legend."""

from __future__ import annotations

import math


def clock(seconds: float) -> str:
    """12.5 -> '00:12.500'; an hour or more as 'H:MM:SS.sss'."""
    m, s = divmod(max(0.0, seconds), 60)
    h, m = divmod(int(m), 60)
    return f"{h}:{m:02d}:{s:06.3f}" if h else f"{m:02d}:{s:06.3f}"


def _colour(i: int) -> tuple[int, int, int]:
    import colorsys

    r, g, b = colorsys.hsv_to_rgb((i * 0.618033988749895) % 1.0, 0.55, 0.92)
    return int(r * 255), int(g * 255), int(b * 255)


def plot_timeline(tl, path, class_names=None, width: int = 1200) -> None:
    from PIL import Image, ImageDraw, ImageFont

    names = list(class_names or sorted({s.label for s in tl.segments} | {w[2][0][0] for w in tl.windows}))
    colour = {n: _colour(i) for i, n in enumerate(names)}
    total = max(tl.duration, max((w[1] for w in tl.windows), default=0.0), 1e-6)
    margin, row, legend_h = 10, 36, 22
    height = margin + row + 6 + row // 2 + 24 + legend_h * math.ceil(len(names) / 4) + margin
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    span = width - 2 * margin

    def x(t):
        return margin + span * min(max(t, 0.0), total) / total

    y0 = margin
    for seg in tl.segments:  # the segments, labelled where they are wide enough
        draw.rectangle([x(seg.start), y0, max(x(seg.end) - 1, x(seg.start)), y0 + row], fill=colour[seg.label])
        text = seg.label
        if draw.textlength(text, font=font) < x(seg.end) - x(seg.start) - 4:
            draw.text((x(seg.start) + 3, y0 + row / 2 - 5), text, fill="black", font=font)
    y1 = y0 + row + 6
    for i, (s, e, top) in enumerate(tl.windows):  # each window's top class, its opacity the probability
        c = colour[top[0][0]]
        p = top[0][1]
        faded = tuple(int(255 - (255 - v) * (0.35 + 0.65 * p)) for v in c)
        stop = e if i == len(tl.windows) - 1 else min(e, s + tl.stride)
        draw.rectangle([x(s), y1, max(x(stop) - 1, x(s)), y1 + row // 2], fill=faded)
    y2 = y1 + row // 2 + 4
    draw.line([margin, y2, width - margin, y2], fill="black")
    step = _tick(total)
    t = 0.0
    while t <= total + 1e-9:
        draw.line([x(t), y2, x(t), y2 + 4], fill="black")
        label = f"{t:g}s" if total < 120 else clock(t).rsplit(".", 1)[0]
        tx = min(x(t) + 2, width - margin - draw.textlength(label, font=font))
        draw.text((tx, y2 + 5), label, fill="black", font=font)
        t += step
    y3 = y2 + 24
    for i, n in enumerate(names):
        lx, ly = margin + (i % 4) * (span // 4), y3 + (i // 4) * legend_h
        draw.rectangle([lx, ly + 2, lx + 14, ly + 14], fill=colour[n])
        draw.text((lx + 20, ly + 3), n, fill="black", font=font)
    image.save(str(path), format="PNG")


def _tick(total: float) -> float:
    for step in (0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600):
        if total / step <= 12:
            return float(step)
    return 7200.0
