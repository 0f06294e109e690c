"""Video data: decoding (video, decode_plan), clip datasets (clips, sampling, bad_videos), the Lightning data module, transform presets and the demo sample."""
