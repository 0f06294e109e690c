"""`vidzoo run`'s command line -> a RunConfig (vidzoo.training.run_config); also the dataset-only parser
of `vidzoo check-data` and `vidzoo prepare`.

Precedence, lowest first: factory defaults, the backbone's input metadata (frames, crop
size, mean, std, for the transform options of those names; for the chosen backbone options
when the registration has ``input_config``), the dataset plugin's ``run_defaults``,
``--config`` files (in order), command-line flags. Keys are the same in all of them:
``--dataset.data_path X`` on the command line is ``dataset: {data_path: X}`` in YAML.
The plugin sections come from the factories' signatures and docstrings, so plugin
authors write no CLI code.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Optional

from vidzoo.errors import VidzooError
from vidzoo.messages import one_line
from vidzoo.training.run_config import (FACTORY_SKIP, PLUGIN_SECTIONS, TRAINER_DEFAULTS, TRAINER_SKIP, RunConfig,
                                        deep_merge)


def load_yaml(path: str) -> dict:
    import yaml

    p = Path(path)
    if not p.is_file():
        raise VidzooError(f"config file {path} does not exist")
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise VidzooError(f"config file {path} is not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise VidzooError(f"config file {path} must hold a mapping of sections (dataset:, backbone:, ...)")
    for section in PLUGIN_SECTIONS:  # `dataset: kinetics` is short for `dataset: {name: kinetics}`
        if isinstance(data.get(section), str):
            data[section] = {"name": data[section]}
    return data


def flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in d.items():
        full = f"{prefix}{key}"
        if isinstance(value, dict) and value and key != "metadata":
            out.update(flatten(value, full + "."))
        else:
            out[full] = value
    return out


def split_argv(argv: list[str]) -> tuple[list[str], list[str], dict[str, str]]:
    """Pull ``--config`` files and plugin names out of argv; return (argv, configs, names).

    ``--dataset NAME`` becomes ``--dataset.name NAME`` so that both spellings work.
    """
    rest, configs, names = [], [], {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        key, eq, value = arg.partition("=")
        if key in ("--config", *(f"--{s}" for s in PLUGIN_SECTIONS), *(f"--{s}.name" for s in PLUGIN_SECTIONS)):
            if not eq:
                if i + 1 >= len(argv) or argv[i + 1].startswith("--"):
                    raise VidzooError(f"{key} needs a value, e.g. {key} {'run.yaml' if key == '--config' else 'NAME'}")
                value = argv[i + 1]
                i += 1
            if key == "--config":
                configs.append(value)
            else:
                names[key[2:].split(".")[0]] = value
        else:
            rest.append(arg)
        i += 1
    return rest, configs, names


def build_parser(names: dict[str, str], description: str = "", epilog: str = "", trainer: bool = True):
    """A jsonargparse parser with sections for the chosen plugins, data, optimizer and trainer."""
    from jsonargparse import ArgumentParser

    from vidzoo.data.datamodule import DataOptions
    from vidzoo.plugins import get_registry
    from vidzoo.training import midepoch, optim
    from vidzoo.training.run_config import PerfOptions

    parser = ArgumentParser(
        prog="vidzoo run", description=description, epilog=epilog, exit_on_error=False,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    registry = get_registry()
    for section in PLUGIN_SECTIONS:
        parser.add_argument(f"--{section}.name", type=str, required=section != "transform",
                            help=f"registered {section} name (`vidzoo list --kind {section}`)")
        if section in names:
            reg = registry.get(section, names[section])
            parser.add_function_arguments(reg.factory, section, skip=FACTORY_SKIP[section], fail_untyped=False)
            if section == "backbone":
                _weights_arguments(parser, reg.factory)
    parser.add_class_arguments(DataOptions, "data")
    parser.add_class_arguments(PerfOptions, "perf")
    parser.add_function_arguments(optim.optimizer_options, "optimizer")
    parser.add_function_arguments(midepoch.checkpoint_options, "checkpoint")
    if trainer:
        from lightning.pytorch import Trainer

        parser.add_class_arguments(Trainer, "trainer", skip=TRAINER_SKIP, fail_untyped=False)
        from vidzoo.training import loggers  # vidzoo builds the logger objects; the option names them

        parser.add_argument("--trainer.logger", type=str, default="csv", help=loggers.HELP)
        parser.set_defaults({f"trainer.{k}": v for k, v in TRAINER_DEFAULTS.items()})
        parser.add_argument("--trainer.skip_nonfinite", type=int, default=0,
                            help="skip up to N training steps whose loss is NaN or infinite (0: stop at the first)")
        parser.add_argument("--trainer.peer_timeout_s", type=Optional[float], default=None,
                            help="seconds a DDP process waits for the others at a collective (a node that froze or "
                                 "became unreachable) before the run fails with one line; default: torch's 1800; "
                                 "needs --trainer.strategy ddp (or another DDP/FSDP name)")
    parser.add_argument("--output", type=str, default="runs", help="folder under which run directories are made")
    parser.add_argument("--seed", type=int, default=0, help="random seed (data order, augmentation, init)")
    return parser


def _weights_arguments(parser, factory) -> None:
    """--backbone.pretrained/sha256 for a factory that only builds (the model layer loads the weights)."""
    import inspect

    from vidzoo.training.run_config import WEIGHT_OPTIONS

    helps = {"pretrained": "weights to start from: default, a variant name, a file, a URL or a Hub id",
             "sha256": "the weights file's expected sha256 (checked after download)"}
    params = inspect.signature(factory).parameters
    for name, default in WEIGHT_OPTIONS.items():
        if name not in params:
            parser.add_argument(f"--backbone.{name}", type=Optional[str], default=default, help=helps[name])


def dataset_parser(names: dict[str, str], prog: str, description: str = "", epilog: str = ""):
    """A parser with the dataset section alone (--dataset.name and the factory's options), for the
    commands that read a dataset without training on it (check-data, prepare); they add their own flags."""
    from jsonargparse import ArgumentParser

    from vidzoo.plugins import get_registry

    parser = ArgumentParser(prog=prog, description=description, epilog=epilog, exit_on_error=False,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset.name", type=str, required=True,
                        help="registered dataset name (`vidzoo list --kind dataset`)")
    if "dataset" in names:
        reg = get_registry().get("dataset", names["dataset"])
        parser.add_function_arguments(reg.factory, "dataset", skip=FACTORY_SKIP["dataset"], fail_untyped=False)
    return parser


def parse_dataset_argv(argv: list[str], command: str, build: Any, example: str) -> tuple[Any, str, dict]:
    """Parse the command line of a dataset_parser command: (config, dataset name, dataset options).

    ``build(names)`` makes the command's parser; ``example`` completes "--dataset is required, e.g. ...".
    """
    argv, configs, names = split_argv(argv)
    if configs:
        raise VidzooError(f"{command} takes no --config; pass --dataset NAME --dataset.<option> VALUE")
    if "dataset" not in names and not any(a in ("-h", "--help") for a in argv):
        raise VidzooError(f"--dataset is required, e.g. `{example}`")
    cfg = _parse(build(names), argv + [f"--dataset.name={names['dataset']}"] if "dataset" in names else argv)
    return cfg, names.get("dataset"), {k: v for k, v in cfg.dataset.as_dict().items() if k != "name"}


def set_defaults(parser, values: dict, source: str) -> None:
    for key, value in flatten(values).items():
        try:
            parser.set_defaults({key: value})
        except Exception:
            raise VidzooError(f"unknown option {key!r} in {source}; `vidzoo run --dataset D --backbone B --help` lists the options") from None


def backbone_input_defaults(names: dict[str, str], options: dict | None = None) -> dict:
    """The transform section of run_config.input_defaults for the chosen names (``options``: the
    parsed backbone options), or nothing before both names are known."""
    from vidzoo.training.run_config import input_defaults

    if "backbone" not in names or "transform" not in names:
        return {}
    out = input_defaults(names["backbone"], names["transform"], options)
    return {"transform": out} if out else {}


def resolve(argv: list[str], description: str = "", epilog: str = "") -> RunConfig:
    """Parse a `vidzoo run` command line into its run config."""
    from vidzoo.plugins import get_registry

    argv, config_files, cli_names = split_argv(argv)
    file_config: dict = {}
    for path in config_files:
        file_config = deep_merge(file_config, load_yaml(path))
    names = {s: file_config.get(s, {}).get("name") for s in PLUGIN_SECTIONS}
    names = {k: v for k, v in {**names, **cli_names}.items() if v}
    if not any(a in ("-h", "--help") for a in argv):
        for section in ("dataset", "backbone"):
            if section not in names:
                raise VidzooError(f"--{section} is required, e.g. `vidzoo run --dataset kinetics --backbone resnet3d50` (`vidzoo list` shows the names)")
    registry = get_registry()
    if "dataset" in names and "transform" not in names:
        from vidzoo.training.run_config import default_transform

        pretrained = _option(argv, "backbone.pretrained", file_config.get("backbone", {}).get("pretrained"))
        names["transform"] = default_transform(names["dataset"], names.get("backbone"), pretrained)
    parser = build_parser(names, description, epilog)
    parser.set_defaults({f"{s}.name": n for s, n in names.items()})
    set_defaults(parser, backbone_input_defaults(names), "the backbone's metadata")
    if "backbone" in names:  # a recipe transform's clip seconds (vidzoo.training.run_config)
        from vidzoo.training.run_config import recipe_clip_duration

        clip = recipe_clip_duration(names["backbone"], names["transform"], names["dataset"])
        set_defaults(parser, {"dataset": clip} if clip else {}, "the backbone's recipe")
    set_defaults(parser, file_config, _files(config_files))
    argv = argv + [f"--{s}.name={n}" for s, n in cli_names.items()]
    cfg = _parse(parser, argv)
    # A backbone whose input depends on its options: its defaults for the options as parsed.
    chosen = {k: v for k, v in cfg.backbone.as_dict().items() if k != "name"}
    option_defaults = backbone_input_defaults(names, chosen)
    if option_defaults:
        set_defaults(parser, option_defaults, f"backbone {names['backbone']!r}'s input_config")
        set_defaults(parser, file_config, _files(config_files))
        cfg = _parse(parser, argv)
    # The dataset may recommend settings for what its options point at (e.g. the demo sample).
    run_defaults = registry.get("dataset", names["dataset"]).spec.run_defaults
    if callable(run_defaults):
        from vidzoo.training.run_config import for_transform

        recommended = for_transform(run_defaults(dict(cfg.dataset.as_dict())) or {}, names["transform"])
        if recommended:
            set_defaults(parser, recommended, f"dataset {names['dataset']!r}'s run_defaults")
            set_defaults(parser, file_config, _files(config_files))
            cfg = _parse(parser, argv)
    return RunConfig.from_dict(cfg.as_dict())


def _option(argv: list[str], key: str, default=None):
    """The value of ``--key VALUE`` / ``--key=VALUE`` in argv (the last one), else ``default``."""
    value = default
    for i, arg in enumerate(argv):
        name, eq, given = arg.partition("=")
        if name == f"--{key}":
            value = given if eq else (argv[i + 1] if i + 1 < len(argv) else value)
    return value


def _parse(parser, argv):
    try:
        return parser.parse_args(argv)
    except argparse.ArgumentError as exc:
        raise VidzooError(_type_error(one_line(exc)) + "; see `vidzoo run --dataset D --backbone B --help`") from None
    except SystemExit:
        raise
    except Exception as exc:  # jsonargparse reports type errors with its own classes
        raise VidzooError(one_line(exc)) from None


def _type_error(message: str) -> str:
    """jsonargparse's 'Parser key "data.batch_size": Expected a <class 'int'>. Got value: abc' in CLI words."""
    import re

    m = re.search(r"""Parser key "([^"]+)":\s*Expected a <class '(\w+)'>\. Got value: (.*)$""", message)
    words = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a string", "NoneType": "null"}
    if m:
        return f"--{m[1]} expects {words.get(m[2], m[2])}, got {m[3]!r}"
    m = re.search(r"""Parser key "([^"]+)": Does not validate against any of the Union subtypes Subtypes: \[(.*?)\]"""
                  r""".* Given value: (.*)$""", message)
    if m:
        kinds = [words.get(k, k) for k in re.findall(r"<class '(\w+)'>", m[2])]
        kinds += re.findall(r"Literal\['([^']+)'", m[2])  # the subtypes' list ends at its first ]
        if kinds:
            return f"--{m[1]} expects {' or '.join(kinds)}, got {m[3]!r}"
    return message


def _files(paths: list[str]) -> str:
    return f"the config file {paths[0]}" if len(paths) == 1 else f"the config files {', '.join(paths)}"
