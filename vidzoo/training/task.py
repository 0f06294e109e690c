"""VideoClassificationTask: the one LightningModule, around a built model (names stay with the runner)."""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import torch
from torch import nn
from torchmetrics import MeanMetric
from torchmetrics.classification import MulticlassAccuracy

from vidzoo.training import nonfinite, optim
from vidzoo.errors import PluginError, VidzooError
from vidzoo.plugins import contracts, get_registry


def _mean_metric() -> MeanMetric:
    try:
        return MeanMetric(nan_strategy="disable")  # no per-update NaN check (a host sync)
    except ValueError:  # older torchmetrics, without "disable"
        return MeanMetric()


class VideoClassificationTask(pl.LightningModule):
    """Cross-entropy classification of clips; logs loss, top-1 and top-5 per epoch.

    It takes a built model (vidzoo.models.build_model) and saves how to rebuild it in its
    checkpoints: ``model_recipe`` (a registry name and options, or a user's class path and
    constructor arguments) as hparams ``model``, with the class names, the ``classifier`` (the
    parameter names of the head: what freezing and backbone_lr_mult leave training), the
    optimizer and perf options and the whole run config.
    """

    def __init__(
        self,
        model: nn.Module,
        class_names: list[str],
        model_recipe: dict[str, Any],
        classifier: list[str] | None = None,
        optimizer: dict[str, Any] | None = None,
        perf: dict[str, Any] | None = None,
        config: dict[str, Any] | None = None,
    ):
        super().__init__()
        self.save_hyperparameters({"class_names": list(class_names), "model": dict(model_recipe),
                                   "classifier": list(classifier or []), "optimizer": dict(optimizer or {}),
                                   "perf": dict(perf or {}), "config": config})
        self.class_names = list(class_names)
        num_classes = len(self.class_names)
        self.model = model
        if not isinstance(self.model, nn.Module):
            raise PluginError(self._contract(f"its factory returned {type(self.model).__name__}, not a torch.nn.Module"))
        self.classifier = list(classifier or [])
        self.optimizer_options = dict(optimizer or {})
        self.loss_fn = nn.CrossEntropyLoss()
        top5 = min(5, num_classes)
        # No per-step host syncs (each makes the CPU wait for the GPU instead of queueing the next
        # step): torchmetrics' argument and NaN checks read tensors back, so they are off. Labels are
        # checked on the first batch (_check_inputs); a NaN loss still shows as a NaN epoch loss.
        self.metrics = nn.ModuleDict({
            f"{stage}_{name}": MulticlassAccuracy(num_classes, top_k=k, average="micro", validate_args=False)
            for stage in ("train", "val", "test") for name, k in (("top1", 1), ("top5", top5))
        })
        # Epoch losses as metrics: their DDP reduction is the exact mean over every clip of every
        # rank (ranks may hold different numbers of clips), not a mean of rank means.
        self.epoch_loss = nn.ModuleDict({f"{stage}_loss": _mean_metric() for stage in ("train", "val", "test")})
        self._checked = False
        # Speed options (the run config's perf section): memory format now, torch.compile in configure_model.
        self.perf = dict(perf or {})
        if self.perf.get("channels_last_3d"):
            self.model = self.model.to(memory_format=torch.channels_last_3d)

    @classmethod
    def from_hparams(cls, hparams: dict, model: nn.Module | None = None) -> "VideoClassificationTask":
        """The task a checkpoint's hparams describe, its model rebuilt without pretrained weights (the
        checkpoint holds its own; the file or URL the run started from may be gone). ``model``: the
        module to use instead (a user's class that cannot be imported here). Reads today's hparams and
        the older ones (``backbone``/``backbone_options``)."""
        from vidzoo.models.builder import build_model, recipe_of

        hp = dict(hparams)
        recipe = recipe_of(hp)
        built = build_model(model if model is not None else recipe, len(hp["class_names"]), pretrained=None)
        perf = hp.get("perf") or (hp.get("config") or {}).get("perf") or {}
        classifier = hp.get("classifier") if hp.get("classifier") is not None else built.classifier
        return cls(built.model, hp["class_names"], built.recipe, classifier,
                   hp.get("optimizer"), perf, hp.get("config"))

    @classmethod
    def load_from_checkpoint(cls, checkpoint_path, map_location=None, model: nn.Module | None = None,
                             weights_only: bool | None = None, strict: bool = True, **_):
        """Lightning's loader for vidzoo checkpoints: the model rebuilt from the checkpoint's recipe
        (:meth:`from_hparams`), then the checkpoint's weights."""
        # torch.load as Lightning's loader calls it: weights_only unless asked otherwise (torch's default)
        ckpt = torch.load(checkpoint_path, map_location=map_location or "cpu",
                          **({} if weights_only is None else {"weights_only": weights_only}))
        task = cls.from_hparams(ckpt["hyper_parameters"], model)
        task.load_state_dict(ckpt["state_dict"], strict=strict)
        return task

    def configure_model(self) -> None:
        if self.perf.get("compile") and "_compiled" not in self.__dict__:
            # Kept out of the module tree, so state dicts (checkpoints) keep the plain names.
            self.__dict__["_compiled"] = torch.compile(self.model)

    def _model_name(self) -> str:
        recipe = self.hparams.model
        return recipe.get("name") or str(recipe.get("class_path", "?"))

    def _contract(self, problem: str) -> str:
        recipe = self.hparams.model
        if "name" in recipe:
            try:
                r = get_registry().get("backbone", recipe["name"])
                who = f"backbone {r.name!r} ({r.package} {r.version})"
            except Exception:  # an error message for a plugin since uninstalled still names it
                who = f"backbone {recipe['name']!r}"
        else:
            who = f"model {recipe.get('class_path')!r}"
        return contracts.breach("backbone", who, problem)

    def forward(self, video):
        if self.perf.get("channels_last_3d") and isinstance(video, torch.Tensor) and video.dim() == 5:
            video = video.contiguous(memory_format=torch.channels_last_3d)
        if isinstance(video, list):  # pytorchvideo's SlowFast overwrites the list it is given: keep the batch's
            video = list(video)
        return self.__dict__.get("_compiled", self.model)(video)

    def _matching_transform(self) -> str | None:
        name = self.hparams.model.get("name")
        try:
            return get_registry().get("backbone", name).spec.transform if name else None
        except Exception:
            return None

    def _check_batch(self, batch, logits) -> None:
        problem = contracts.logits_problem(logits, (batch["label"].shape[0], len(self.class_names)))
        if problem:
            raise PluginError(self._contract(problem))
        self._checked = True

    def _dataset_contract(self, problem: str) -> str:
        name = (self.hparams.config or {}).get("dataset", {}).get("name", "?")
        try:
            r = get_registry().get("dataset", name)
            who = f"dataset {name!r} ({r.package} {r.version})"
        except Exception:
            who = f"dataset {name!r}"
        return contracts.breach("dataset", who, problem)

    def _check_inputs(self, batch) -> None:
        """The first batch: the dataset's samples, before they reach the backbone."""
        problem = contracts.batch_problem(batch, len(self.class_names))
        if problem:
            raise PluginError(self._dataset_contract(problem))

    def _step(self, batch, stage: str):
        if not self._checked:
            self._check_inputs(batch)
            try:
                logits = self(batch["video"])
            except Exception as exc:
                video = batch["video"]
                shape = [tuple(v.shape) for v in video] if isinstance(video, (list, tuple)) else tuple(video.shape)
                matching = self._matching_transform()
                used = ((self.hparams.config or {}).get("transform") or {}).get("name")
                hint = (f" (its matching transform preset is {matching!r}: --transform {matching})"
                        if matching and used and matching != used else "")
                raise PluginError(self._contract(
                    f"it raised {type(exc).__name__} on the first batch, of shape {shape}: "
                    f"{' '.join(str(exc).split())[:300]}{hint}")) from exc
            self._check_batch(batch, logits)
        else:
            logits = self(batch["video"])
        labels = batch["label"]
        loss = self.loss_fn(logits, labels)
        if stage == "train" and not nonfinite.loss_is_finite(self, loss):
            return None  # skipped within --trainer.skip_nonfinite: no backward, no optimizer step
        size = labels.shape[0]
        epoch_loss = self.epoch_loss[f"{stage}_loss"]
        # update, not forward (no per-batch value to compute). The loss once per clip of the batch: the mean is
        # weighted by batch size, with no weight tensor to copy to the device (a sync) each step.
        epoch_loss.update(loss.detach().expand(size))
        if stage == "train":  # per step: this rank's batch (no collective); per epoch: every clip of every rank
            self.log("train/loss_step", loss, on_step=True, on_epoch=False, prog_bar=True, batch_size=size)
            self.log("train/loss_epoch", epoch_loss, on_step=False, on_epoch=True, batch_size=size)
        else:
            self.log(f"{stage}/loss", epoch_loss, on_step=False, on_epoch=True, prog_bar=True,
                     batch_size=size)
        for name in ("top1", "top5"):
            metric = self.metrics[f"{stage}_{name}"]
            metric.update(logits.detach(), labels)
            self.log(f"{stage}/{name}", metric, on_step=False, on_epoch=True, prog_bar=name == "top1",
                     batch_size=size)
        return loss

    def training_step(self, batch, batch_idx):
        return self._step(batch, "train")

    def validation_step(self, batch, batch_idx):
        return self._step(batch, "val")

    def test_step(self, batch, batch_idx):
        return self._step(batch, "test")

    # ---- fine-tuning: head vs backbone (the classifier the model layer declares) ----

    def _finetune(self) -> dict:
        return {**optim.optimizer_options(), **self.optimizer_options}

    def head_and_backbone(self) -> tuple[list[str], list[str]]:
        """Parameter names of self.model: (head, backbone). The head is the ``classifier`` the task was
        given (vidzoo.models.build_model declares it); everything else is the backbone."""
        head = set(self.classifier)
        names = [n for n, _ in self.model.named_parameters()]
        if not head:
            raise VidzooError(
                f"backbone {self._model_name()!r} has no Linear layer and no replaced pretrained head, so vidzoo "
                f"cannot tell its head from the rest; drop --optimizer.freeze_backbone/unfreeze_after_epochs/"
                f"backbone_lr_mult")
        return [n for n in names if n in head], [n for n in names if n not in head]

    def _backbone_frozen(self, epoch: int) -> bool:
        o = self._finetune()
        after = o["unfreeze_after_epochs"]
        return bool(o["freeze_backbone"]) or (after is not None and epoch < after)

    def _backbone_batchnorms(self):
        head = set(self.head_and_backbone()[0])
        for name, module in self.model.named_modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                if not any(f"{name}.{p}" in head for p, _ in module.named_parameters()):
                    yield module

    def setup(self, stage: str) -> None:
        # A permanent freeze (linear probe) stops gradients before DDP wraps the model, so
        # no backward runs through the backbone. A timed freeze drops the backbone's
        # gradients before each optimizer step instead (same on every DDP rank).
        if stage == "fit" and self._finetune()["freeze_backbone"]:
            backbone = set(self.head_and_backbone()[1])
            for name, param in self.model.named_parameters():
                if name in backbone:
                    param.requires_grad_(False)

    def on_train_epoch_start(self) -> None:
        o = self._finetune()
        if not (o["freeze_backbone"] or o["unfreeze_after_epochs"] is not None):
            return
        frozen = self._backbone_frozen(self.current_epoch)
        for module in self._backbone_batchnorms():  # frozen: BatchNorm statistics stay as loaded
            module.train(not frozen)
        after = o["unfreeze_after_epochs"]
        if after is not None and self.current_epoch == after and self.global_rank == 0:
            from vidzoo.messages import say

            say(f"epoch {self.current_epoch}: unfreezing the backbone (lr x {o['backbone_lr_mult']})")

    def on_before_optimizer_step(self, optimizer) -> None:
        o = self._finetune()
        if o["unfreeze_after_epochs"] is not None and self._backbone_frozen(self.current_epoch):
            backbone = set(self.head_and_backbone()[1])
            for name, param in self.model.named_parameters():
                if name in backbone:
                    param.grad = None  # the optimizer skips it: no step, no momentum, no weight decay

    def configure_optimizers(self):
        total = max(1, int(self.trainer.estimated_stepping_batches))
        per_epoch = total / max(1, self.trainer.max_epochs or 1)
        o = self._finetune()
        parameters = self.parameters()
        if o["backbone_lr_mult"] != 1.0 or o["freeze_backbone"] or o["unfreeze_after_epochs"] is not None:
            head_names, backbone_names = self.head_and_backbone()
            params = dict(self.model.named_parameters())
            inside = {id(p) for p in params.values()}
            extra = [p for p in self.parameters() if id(p) not in inside]  # task-level parameters train as head
            head = [params[n] for n in head_names] + extra
            backbone = [] if o["freeze_backbone"] else [params[n] for n in backbone_names]
            parameters = optim.param_groups(head, backbone, o)
        return optim.build(parameters, self.optimizer_options, total, per_epoch)
