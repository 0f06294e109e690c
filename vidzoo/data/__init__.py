"""Video data: decoding (video, decode_plan), clip datasets (clips, sampling, bad_videos), the Lightning data module, transform presets and the demo sample."""

# File endings vidzoo treats as videos (dataset folders, `vidzoo predict` folders).
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v")
