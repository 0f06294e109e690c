"""vidzoo plugin: datasets beyond Kinetics.

- ``ucf101`` and ``hmdb51`` with their official three train/test splits (split files parsed
  as distributed: ucfTrainTestlist/, testTrainMulti_7030_splits/);
- ``ssv2``: Something-Something v2 with its label JSON files, and the ``ssv2`` transform
  preset (no horizontal flip: SSv2 has left/right classes);
- ``video-csv``: a user's own videos from ``path,label`` CSV files, class names from the
  train file, relative paths resolved against the CSV's folder.

All of them are vidzoo ClipDatasets (map-style, known length, exact sharding across workers
and ranks). No torch import at module level.
"""

from __future__ import annotations

from vidzoo import DatasetSpec, hookimpl

__version__ = "0.1.0"


def _clips(videos, classes, split, transform, clip_duration, train_clip_sampler, eval_clip_sampler):
    from vidzoo.plugins import ClipDataset
    from vidzoo.errors import VidzooError

    if not videos:
        raise VidzooError(f"no videos in the {split} split")
    sampler = train_clip_sampler if split == "train" else eval_clip_sampler
    return ClipDataset(videos, classes, clip_sampler=sampler, clip_duration=clip_duration, transform=transform)


def ucf101(split: str, transform=None, data_path: str = "", fold: int = 1, annotation_path: str | None = None,
           clip_duration: float = 2.0, train_clip_sampler: str = "random", eval_clip_sampler: str = "uniform"):
    """UCF101 with its official train/test split files (3 folds).

    Args:
        split: "train", or "val"/"test" (both are the fold's test list).
        transform: Callable applied to each sample dict.
        data_path: Folder holding the 101 class folders (UCF-101/).
        fold: Official split 1, 2 or 3 (trainlist0F.txt / testlist0F.txt).
        annotation_path: Folder of classInd.txt and the split lists (default: ucfTrainTestlist/ in or next to data_path).
        clip_duration: Seconds per clip.
        train_clip_sampler: "random" (one random clip per video per epoch) or "uniform".
        eval_clip_sampler: "uniform" (every consecutive clip) or "random".
    """
    from vidzoo_datasets import readers

    _need(data_path, "ucf101")
    videos, classes = readers.ucf101(data_path, split, fold, annotation_path)
    return _clips(videos, classes, split, transform, clip_duration, train_clip_sampler, eval_clip_sampler)


def hmdb51(split: str, transform=None, data_path: str = "", fold: int = 1, annotation_path: str | None = None,
           clip_duration: float = 2.0, train_clip_sampler: str = "random", eval_clip_sampler: str = "uniform"):
    """HMDB51 with its official split files (3 folds, 70/30 per class).

    Args:
        split: "train", or "val"/"test" (both are the fold's test videos).
        transform: Callable applied to each sample dict.
        data_path: Folder holding the 51 class folders.
        fold: Official split 1, 2 or 3 (<class>_test_splitF.txt).
        annotation_path: Folder of the split files (default: testTrainMulti_7030_splits/ in or next to data_path).
        clip_duration: Seconds per clip.
        train_clip_sampler: "random" (one random clip per video per epoch) or "uniform".
        eval_clip_sampler: "uniform" (every consecutive clip) or "random".
    """
    from vidzoo_datasets import readers

    _need(data_path, "hmdb51")
    videos, classes = readers.hmdb51(data_path, split, fold, annotation_path)
    return _clips(videos, classes, split, transform, clip_duration, train_clip_sampler, eval_clip_sampler)


def ssv2(split: str, transform=None, data_path: str = "", annotation_path: str | None = None,
         video_extension: str = "webm", clip_duration: float = 8.0, train_clip_sampler: str = "random",
         eval_clip_sampler: str = "uniform"):
    """Something-Something v2 (174 classes) from its label JSON files.

    Args:
        split: "train" or "val" (the validation JSON); test labels are not public.
        transform: Callable applied to each sample dict.
        data_path: Folder holding the <id>.webm videos (20bn-something-something-v2/).
        annotation_path: Folder of something-something-v2-{labels,train,validation}.json (default: labels/ in or next to data_path).
        video_extension: Extension of the video files.
        clip_duration: Seconds per clip; the default takes whole videos (SSv2 videos are 2-6 s).
        train_clip_sampler: "random" or "uniform".
        eval_clip_sampler: "uniform" or "random".
    """
    from vidzoo_datasets import readers

    _need(data_path, "ssv2")
    videos, classes = readers.ssv2(data_path, split, annotation_path, video_extension)
    return _clips(videos, classes, split, transform, clip_duration, train_clip_sampler, eval_clip_sampler)


def video_csv(split: str, transform=None, train_csv: str = "", val_csv: str | None = None,
              test_csv: str | None = None, clip_duration: float = 2.0, train_clip_sampler: str = "random",
              eval_clip_sampler: str = "uniform"):
    """Your own videos: `path,label` CSV files (class names from the train CSV).

    Args:
        split: "train", "val" or "test".
        transform: Callable applied to each sample dict.
        train_csv: CSV of the train split; its label names (sorted) are the classes.
        val_csv: CSV of the validation split.
        test_csv: CSV of the test split.
        clip_duration: Seconds per clip.
        train_clip_sampler: "random" (one random clip per video per epoch) or "uniform".
        eval_clip_sampler: "uniform" (every consecutive clip) or "random".
    """
    from vidzoo_datasets import readers

    videos, classes = readers.video_csv(split, {"train": train_csv, "val": val_csv, "test": test_csv})
    return _clips(videos, classes, split, transform, clip_duration, train_clip_sampler, eval_clip_sampler)


def _need(data_path: str, name: str) -> None:
    if not data_path:
        from vidzoo.errors import VidzooError

        raise VidzooError(f"{name}: --dataset.data_path is required (the folder with the videos)")


@hookimpl
def register_datasets(register):
    register("ucf101", ucf101, "UCF101 (101 actions) with its official train/test split files, folds 1-3",
             spec=DatasetSpec(transform="kinetics", extra=dict(official_classes=101)))
    register("hmdb51", hmdb51, "HMDB51 (51 actions) with its official split files, folds 1-3",
             spec=DatasetSpec(transform="kinetics", extra=dict(official_classes=51)))
    register("ssv2", ssv2, "Something-Something v2 (174 classes) from its label JSON files",
             spec=DatasetSpec(transform="ssv2", extra=dict(official_classes=174)))
    register("video-csv", video_csv, "Your own videos from path,label CSV files (classes from the train CSV)",
             spec=DatasetSpec(transform="kinetics"))


@hookimpl
def register_transforms(register):
    from vidzoo.plugins import kinetics_transform, preset

    # SSv2 has direction classes ("Pushing something from left to right"): the Kinetics
    # recipe's flip would turn a sample into another class.
    register("ssv2", preset(kinetics_transform, "Something-Something v2 recipe: 16 frames over the whole video, "
                            "no horizontal flip (its classes are not mirror-symmetric).", num_frames=16, flip_prob=0.0))
