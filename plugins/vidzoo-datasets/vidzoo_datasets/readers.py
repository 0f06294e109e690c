"""Parsers of the official annotation formats; each returns (videos [(path, label index)], classes).

Pure Python (no torch), so they can be unit-tested and reused.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

from vidzoo.errors import VidzooError

SPLIT_NAMES = ("train", "val", "test")


def _check_split(split: str, dataset: str) -> None:
    if split not in SPLIT_NAMES:
        raise VidzooError(f"{dataset}: unknown split {split!r}; expected one of {', '.join(SPLIT_NAMES)}")


def _official_split(dataset: str, split: str, fold: int, data_path: str) -> Path:
    """The checks UCF101 and HMDB51 share (split name, fold 1-3, the video folder); returns the folder."""
    _check_split(split, dataset)
    if fold not in (1, 2, 3):
        raise VidzooError(f"{dataset}: fold must be 1, 2 or 3 (the official splits), got {fold}")
    root = Path(data_path).expanduser()
    if not root.is_dir():
        raise VidzooError(f"{dataset} data_path {root} is not a folder; pass the folder holding the class folders")
    return root


def _missing(videos: list[tuple[str, int]], what: str) -> None:
    absent = [p for p, _ in videos if not os.path.isfile(p)]
    if absent:
        raise VidzooError(f"{what}: {len(absent)} of {len(videos)} listed videos are missing, e.g. {absent[0]}")


def _first_dir(candidates, what: str) -> Path:
    for c in candidates:
        if c.is_dir():
            return c
    raise VidzooError(f"{what} not found; looked in {', '.join(str(c) for c in candidates)}")


# --------------------------------------------------------------------------------- UCF101
def ucf101(data_path: str, split: str, fold: int = 1, annotation_path: str | None = None):
    """UCF101: videos under DATA/<Class>/v_<Class>_gXX_cYY.avi; ucfTrainTestlist/ with
    classInd.txt ("1 ApplyEyeMakeup"), trainlist0F.txt ("Class/v_....avi 1") and
    testlist0F.txt ("Class/v_....avi"). ``val`` and ``test`` are the fold's test list
    (UCF101 has no separate validation list)."""
    root = _official_split("ucf101", split, fold, data_path)
    ann = Path(annotation_path).expanduser() if annotation_path else _first_dir(
        [root / "ucfTrainTestlist", root.parent / "ucfTrainTestlist"], "ucf101 split files (ucfTrainTestlist/)")
    class_file = ann / "classInd.txt"
    if not class_file.is_file():
        raise VidzooError(f"ucf101: {class_file} is missing (lines '<index> <ClassName>')")
    classes = {}
    for n, line in enumerate(class_file.read_text().splitlines(), 1):
        if line.strip():
            parts = line.split()
            if len(parts) != 2 or not parts[0].isdigit():
                raise VidzooError(f"{class_file}:{n}: expected '<index> <ClassName>', got {line!r}")
            classes[int(parts[0])] = parts[1]
    names = [classes[i] for i in sorted(classes)]
    lookup = {c: i for i, c in enumerate(names)}
    list_file = ann / f"{'train' if split == 'train' else 'test'}list0{fold}.txt"
    if not list_file.is_file():
        raise VidzooError(f"ucf101: split file {list_file} is missing")
    videos = []
    for n, line in enumerate(list_file.read_text().splitlines(), 1):
        if not line.strip():
            continue
        rel = line.split()[0]
        cls = rel.replace("\\", "/").split("/")[0]
        if cls not in lookup:
            raise VidzooError(f"{list_file}:{n}: class {cls!r} is not in {class_file}")
        videos.append((str(root / rel), lookup[cls]))
    _missing(videos, f"ucf101 {split} (fold {fold}) under {root}")
    return videos, names


# --------------------------------------------------------------------------------- HMDB51
def hmdb51(data_path: str, split: str, fold: int = 1, annotation_path: str | None = None):
    """HMDB51: videos under DATA/<class>/<video>.avi; split files
    <class>_test_split<F>.txt with lines "<video>.avi <id>" (1 train, 2 test, 0 unused), in
    testTrainMulti_7030_splits/. ``val`` and ``test`` are the fold's id-2 videos."""
    root = _official_split("hmdb51", split, fold, data_path)
    ann = Path(annotation_path).expanduser() if annotation_path else _first_dir(
        [root / "testTrainMulti_7030_splits", root.parent / "testTrainMulti_7030_splits", root / "splits"],
        "hmdb51 split files (testTrainMulti_7030_splits/)")
    suffix = f"_test_split{fold}.txt"
    files = sorted(p for p in ann.iterdir() if p.name.endswith(suffix))
    if not files:
        raise VidzooError(f"hmdb51: no <class>{suffix} files in {ann}")
    names = [p.name[: -len(suffix)] for p in files]
    wanted = "1" if split == "train" else "2"
    videos = []
    for label, path in enumerate(files):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            parts = line.split()
            if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
                raise VidzooError(f"{path}:{n}: expected '<video>.avi <0|1|2>', got {line!r}")
            if parts[1] == wanted:
                videos.append((str(root / names[label] / parts[0]), label))
    _missing(videos, f"hmdb51 {split} (fold {fold}) under {root}")
    return videos, names


# ------------------------------------------------------------------------- Something-Something v2
def _ssv2_label(template: str) -> str:
    # The labels JSON names classes by the template without the brackets (as pytorchvideo's reader does).
    return template.replace("[", "").replace("]", "")


def ssv2(data_path: str, split: str, annotation_path: str | None = None, video_extension: str = "webm"):
    """Something-Something v2: videos DATA/<id>.webm; labels/ with something-something-v2-labels.json
    ({"Approaching something with your camera": "0", ...}) and -train.json / -validation.json
    (lists of {"id", "label", "template", "placeholders"}). The test labels are not public."""
    _check_split(split, "ssv2")
    if split == "test":
        raise VidzooError("ssv2: the test split's labels are not public; use --data val (validation) instead")
    root = Path(data_path).expanduser()
    if not root.is_dir():
        raise VidzooError(f"ssv2 data_path {root} is not a folder; pass the folder holding <id>.webm videos")
    ann = Path(annotation_path).expanduser() if annotation_path else _first_dir(
        [root / "labels", root.parent / "labels", root], "ssv2 label files (labels/)")
    labels_file = ann / "something-something-v2-labels.json"
    split_file = ann / f"something-something-v2-{'train' if split == 'train' else 'validation'}.json"
    for f in (labels_file, split_file):
        if not f.is_file():
            raise VidzooError(f"ssv2: {f} is missing")
    try:
        label_ids = json.loads(labels_file.read_text())
        entries = json.loads(split_file.read_text())
    except json.JSONDecodeError as exc:
        raise VidzooError(f"ssv2: invalid JSON in an annotation file: {exc}") from None
    by_index = sorted(((int(i), name) for name, i in label_ids.items()))
    if [i for i, _ in by_index] != list(range(len(by_index))):
        raise VidzooError(f"ssv2: {labels_file} must number its classes 0..N-1")
    names = [name for _, name in by_index]
    videos = []
    for entry in entries:
        label = _ssv2_label(entry["template"])
        if label not in label_ids:
            raise VidzooError(f"ssv2: video {entry['id']} in {split_file} has template {entry['template']!r}, "
                              f"which is not a class of {labels_file}")
        videos.append((str(root / f"{entry['id']}.{video_extension}"), int(label_ids[label])))
    _missing(videos, f"ssv2 {split} under {root}")
    return videos, names


# ------------------------------------------------------------------------------- video-csv
def read_csv(path: Path) -> list[tuple[str, str]]:
    """Rows (absolute path, label name) of a `path,label` CSV; a header row is optional."""
    rows = []
    with open(path, newline="") as f:
        for n, row in enumerate(csv.reader(f), 1):
            if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
                continue
            if n == 1 and [c.strip().lower() for c in row[:2]] == ["path", "label"]:
                continue
            if len(row) < 2 or not row[0].strip() or not row[1].strip():
                raise VidzooError(f"{path}:{n}: expected 'path,label', got {','.join(row)!r}")
            video = os.path.expanduser(row[0].strip())
            if not os.path.isabs(video):
                video = str(path.parent / video)
            rows.append((video, row[1].strip()))
    if not rows:
        raise VidzooError(f"{path} lists no videos (expected 'path,label' rows)")
    return rows


def video_csv(split: str, csv_files: dict[str, str | None]):
    """Classes are the sorted label names of the train CSV; every split uses them."""
    _check_split(split, "video-csv")
    train = csv_files.get("train")
    if not train:
        raise VidzooError("video-csv: --dataset.train_csv is required (it defines the class names)")
    path = csv_files.get(split)
    if not path:
        raise VidzooError(f"video-csv: no CSV for the {split} split; pass --dataset.{split}_csv FILE")
    for f in {train, path}:
        if not Path(f).expanduser().is_file():
            raise VidzooError(f"video-csv: {f} does not exist")
    names = sorted({label for _, label in read_csv(Path(train).expanduser())})
    lookup = {c: i for i, c in enumerate(names)}
    rows = read_csv(Path(path).expanduser())
    unknown = sorted({label for _, label in rows if label not in lookup})
    if unknown:
        raise VidzooError(f"video-csv: {path} has labels that the train CSV does not: {unknown[:5]}; every class "
                          f"must appear in {train}")
    videos = [(p, lookup[label]) for p, label in rows]
    _missing(videos, f"video-csv {split} ({path})")
    return videos, names
