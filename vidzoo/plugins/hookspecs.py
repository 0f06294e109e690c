"""The plugin hooks of vidzoo.

A plugin is a module (or object) listed under the ``vidzoo`` entry-point group of
its package's ``pyproject.toml``::

    [project.entry-points.vidzoo]
    my_plugin = "my_package.plugin"

and implementing one or more of the hooks below with ``@vidzoo.hookimpl``. Each hook
receives a ``register`` callback::

    register(name, factory, description=None, **metadata)

``name`` must be unique per kind across all installed plugins. ``description``
defaults to the first line of the factory's docstring. ``metadata`` travels with the
registration (shown by ``vidzoo list`` and used for preprocessing), see
docs/plugins.md for the fields vidzoo understands.

Keep plugin modules cheap to import: import torch and friends inside the factories,
so that ``vidzoo --help`` and ``vidzoo list`` stay instant.
"""

from pluggy import HookimplMarker, HookspecMarker

hookspec = HookspecMarker("vidzoo")
hookimpl = HookimplMarker("vidzoo")


@hookspec
def register_datasets(register):
    """Register dataset factories.

    Contract: ``factory(split: str, transform, **options)`` returns a
    ``torch.utils.data.Dataset`` of dicts with at least ``video`` (float tensor
    ``(C, T, H, W)`` after ``transform``) and ``label`` (int), and with a ``classes``
    attribute (list of class names, the same for every split). ``split`` is
    ``"train"``, ``"val"`` or ``"test"``. Metadata ``transform="NAME"`` names the
    transform preset used when the user gives none.
    """


@hookspec
def register_transforms(register):
    """Register transform factories.

    Contract: ``factory(split: str, **options)`` returns a callable mapping a sample
    dict (``video`` as a float ``(C, T, H, W)`` tensor in 0..255) to a sample dict,
    random for ``split="train"`` and deterministic otherwise.
    """


@hookspec
def register_backbones(register):
    """Register backbone (model) factories.

    Contract: ``factory(num_classes: int, **options)`` returns a ``torch.nn.Module``
    mapping a float tensor ``(B, C, T, H, W)`` (or a list of them, for multi-pathway
    models) to logits ``(B, num_classes)``.
    """
