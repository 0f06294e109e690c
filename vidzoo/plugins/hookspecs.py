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
docs/plugins.md for the fields vidzoo understands. Each kind's contract is stated once,
in :mod:`vidzoo.plugins.contracts` (docs/plugins.md, "Contracts", quotes it).

Keep plugin modules cheap to import: import torch and friends inside the factories,
so that ``vidzoo --help`` and ``vidzoo list`` stay instant.
"""

from pluggy import HookimplMarker, HookspecMarker

hookspec = HookspecMarker("vidzoo")
hookimpl = HookimplMarker("vidzoo")


@hookspec
def register_datasets(register):
    """Register dataset factories.

    Contract: ``vidzoo.plugins.contracts.CONTRACTS["dataset"]``. ``split`` is
    ``"train"``, ``"val"`` or ``"test"``. Metadata ``transform="NAME"`` names the
    transform preset used when the user gives none.
    """


@hookspec
def register_transforms(register):
    """Register transform factories.

    Contract: ``vidzoo.plugins.contracts.CONTRACTS["transform"]``; random for
    ``split="train"``.
    """


@hookspec
def register_backbones(register):
    """Register backbone (model) factories.

    Contract: ``vidzoo.plugins.contracts.CONTRACTS["backbone"]``.
    """
