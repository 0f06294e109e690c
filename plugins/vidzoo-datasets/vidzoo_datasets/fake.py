"""Small fake dataset trees in the official layouts, with real encoded videos (for tests and demos).

    from vidzoo_datasets.fake import write_ucf101, write_hmdb51, write_ssv2, write_video_csv
    root = write_ucf101(tmp_path / "ucf")        # -> pass as --dataset.data_path

Each writes ``classes`` classes with ``train`` / ``test`` videos per class (1 s, 64x48, 8 fps).
"""

from __future__ import annotations

import json
from pathlib import Path

CODECS = {".webm": "libvpx-vp9", ".mp4": "libx264", ".avi": "libx264", ".mkv": "libx264"}


def write_clip(path, seed: int = 0, seconds: float = 1.0, fps: int = 8, width: int = 64, height: int = 48) -> Path:
    """A real encoded video (codec by extension: H.264, or VP9 for .webm): a bar moving over noise."""
    import numpy as np

    from vidzoo.testing import write_video

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 200, size=(height, width, 3), dtype=np.uint8)
    n = max(1, int(round(seconds * fps)))
    # The encoder's own defaults (options=None), as these trees have always been written.
    write_video(path, _moving_bar(base, n), fps, width, height, codec=CODECS.get(path.suffix.lower(), "libx264"),
                options=None)
    return path


def _moving_bar(base, n: int):
    width = base.shape[1]
    for i in range(n):
        frame = base.copy()
        x = int((width - 8) * i / max(n - 1, 1))
        frame[:, x:x + 8] = 255
        yield frame


UCF_CLASSES = ("ApplyEyeMakeup", "Basketball", "YoYo")
HMDB_CLASSES = ("brush_hair", "cartwheel", "wave")
SSV2_TEMPLATES = ("Pushing [something] from left to right", "Pushing [something] from right to left",
                  "Holding [something] next to [something]")


def write_ucf101(root, classes: int = 3, train: int = 2, test: int = 1, folds: int = 3) -> Path:
    """root/UCF-101/<Class>/v_<Class>_gGG_c01.avi and root/ucfTrainTestlist/; returns root/UCF-101."""
    root = Path(root)
    videos, ann = root / "UCF-101", root / "ucfTrainTestlist"
    ann.mkdir(parents=True, exist_ok=True)
    names = UCF_CLASSES[:classes]
    (ann / "classInd.txt").write_text("".join(f"{i} {c}\n" for i, c in enumerate(names, 1)))
    per_class = {c: [f"{c}/v_{c}_g{g:02d}_c01.avi" for g in range(1, train + test + 1)] for c in names}
    for i, (c, rels) in enumerate(per_class.items()):
        for j, rel in enumerate(rels):
            write_clip(videos / rel, seed=100 * i + j)
    for fold in range(1, folds + 1):
        # Each fold holds out other groups (like the official lists, which split by group).
        tr, te = [], []
        for i, (c, rels) in enumerate(per_class.items(), 1):
            held = [rels[(fold - 1 + k) % len(rels)] for k in range(test)]
            te += held
            tr += [f"{r} {i}" for r in rels if r not in held]
        (ann / f"trainlist0{fold}.txt").write_text("\r\n".join(tr) + "\r\n")  # the official files use CRLF
        (ann / f"testlist0{fold}.txt").write_text("\r\n".join(te) + "\r\n")
    return videos


def write_hmdb51(root, classes: int = 3, train: int = 2, test: int = 1, unused: int = 1) -> Path:
    """root/hmdb51/<class>/<name>.avi and root/testTrainMulti_7030_splits/; returns root/hmdb51."""
    root = Path(root)
    videos, ann = root / "hmdb51", root / "testTrainMulti_7030_splits"
    ann.mkdir(parents=True, exist_ok=True)
    for i, c in enumerate(HMDB_CLASSES[:classes]):
        files = [f"{c}_clip{j}_f_cm_np1_fr_med_{j}.avi" for j in range(train + test + unused)]
        for j, name in enumerate(files):
            write_clip(videos / c / name, seed=200 + 10 * i + j)
        for fold in (1, 2, 3):
            ids = ["1"] * train + ["2"] * test + ["0"] * unused
            ids = ids[fold - 1:] + ids[:fold - 1]  # another assignment per fold
            (ann / f"{c}_test_split{fold}.txt").write_text("".join(f"{n} {k} \n" for n, k in zip(files, ids)))
    return videos


def write_ssv2(root, classes: int = 3, train: int = 2, val: int = 1, extension: str = "webm") -> Path:
    """root/20bn-something-something-v2/<id>.webm and root/labels/*.json; returns the video folder."""
    root = Path(root)
    videos, ann = root / "20bn-something-something-v2", root / "labels"
    ann.mkdir(parents=True, exist_ok=True)
    templates = SSV2_TEMPLATES[:classes]
    labels = {t.replace("[", "").replace("]", ""): str(i) for i, t in enumerate(templates)}
    (ann / "something-something-v2-labels.json").write_text(json.dumps(labels, indent=1))
    next_id = 1000
    for split_name, count in (("train", train), ("validation", val)):
        entries = []
        for t in templates:
            for _ in range(count):
                vid = str(next_id)
                next_id += 1
                write_clip(videos / f"{vid}.{extension}", seed=next_id)
                entries.append({"id": vid, "label": t.replace("[something]", "a cup"), "template": t,
                                "placeholders": ["a cup"] * t.count("[something]")})
        (ann / f"something-something-v2-{split_name}.json").write_text(json.dumps(entries))
    test_entries = [{"id": "99999"}]
    (ann / "something-something-v2-test.json").write_text(json.dumps(test_entries))
    return videos


def write_video_csv(root, classes=("cat", "dog", "bird"), train: int = 2, val: int = 1) -> dict[str, Path]:
    """root/clips/<class>_<n>.mp4 with root/train.csv and root/val.csv (relative paths); returns the CSVs."""
    root = Path(root)
    out = {}
    for split, count in (("train", train), ("val", val)):
        lines = ["path,label"]
        for i, c in enumerate(classes):
            for j in range(count):
                rel = f"clips/{split}_{c}_{j}.mp4"
                write_clip(root / rel, seed=300 + 10 * i + j + (50 if split == "val" else 0))
                lines.append(f"{rel},{c}")
        out[split] = root / f"{split}.csv"
        out[split].write_text("\n".join(lines) + "\n")
    return out
