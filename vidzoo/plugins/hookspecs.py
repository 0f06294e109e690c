"""The plugin hooks of vidzoo: the reference for plugin authors.

A plugin is a module (or object) listed under the ``vidzoo`` entry-point group of
its package's ``pyproject.toml``::

    [project.entry-points.vidzoo]
    my_plugin = "my_package.plugin"

and implementing one or more of the hooks below with ``@vidzoo.hookimpl``. Each hook
receives a ``register`` callback::

    register(name, factory, description=None, spec=None)

- ``name``: unique per kind across all installed plugins (a name two packages register is
  unusable until one goes; never last-one-wins).
- ``factory``: builds the thing; its typed keyword arguments, documented in a Google-style
  docstring, become ``vidzoo run`` flags (``--backbone.<option>``) and config keys.
- ``description``: one line for ``vidzoo list``; defaults to the first line of the factory's
  docstring.
- ``spec``: what comes with the registration, typed and validated when it is registered:
  ``vidzoo.ModelSpec`` (input, transform preset, weights, figures) for a backbone,
  ``vidzoo.DatasetSpec`` (transform preset, run defaults) for a dataset,
  ``vidzoo.TransformSpec`` for a transform; the kind's empty spec when omitted. A bad spec
  refuses that one registration with a one-line error naming the plugin.

For example::

    from vidzoo import InputConfig, ModelSpec, hookimpl

    @hookimpl
    def register_backbones(register):
        register("tinynet", tinynet, spec=ModelSpec(
            input=InputConfig(frames=8, crop_size=112), transform="kinetics"))

Each kind's contract is stated once, in :mod:`vidzoo.plugins.contracts` (docs/plugins.md,
"Contracts", quotes it), and checked by the conformance kit, :mod:`vidzoo.testing`. The
building blocks a plugin may use (``kinetics_transform``, ``preset``, ``ClipDataset``, ...) are
in :mod:`vidzoo.plugins`; everything else in vidzoo is internal and may move.

Keep plugin modules cheap to import: import torch and friends inside the factories,
so that ``vidzoo --help`` and ``vidzoo list`` stay instant.
"""

from pluggy import HookimplMarker, HookspecMarker

hookspec = HookspecMarker("vidzoo")
hookimpl = HookimplMarker("vidzoo")


@hookspec
def register_datasets(register):
    """Register dataset factories.

    ``factory(split: str, transform, **options) -> torch Dataset``; contract:
    ``vidzoo.plugins.contracts.CONTRACTS["dataset"]``. ``split`` is ``"train"``, ``"val"``
    or ``"test"``. ``spec=DatasetSpec(transform="NAME")`` names the transform preset used
    when the user gives none; ``DatasetSpec(run_defaults=fn)`` recommends run settings.
    """


@hookspec
def register_transforms(register):
    """Register transform factories.

    ``factory(split: str, **options) -> callable(sample) -> sample``; contract:
    ``vidzoo.plugins.contracts.CONTRACTS["transform"]``; random for ``split="train"``.
    A preset of an existing transform is one line: ``vidzoo.plugins.preset(factory, ...)``.
    """


@hookspec
def register_backbones(register):
    """Register backbone (model) factories.

    ``factory(num_classes: int, **options) -> torch.nn.Module``; contract:
    ``vidzoo.plugins.contracts.CONTRACTS["backbone"]``. ``spec=ModelSpec(...)`` gives the
    input its weights expect (which sets the transform's defaults), the matching transform
    preset, the weights and the published figures.
    """
