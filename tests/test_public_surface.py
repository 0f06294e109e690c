"""vidzoo.* is the user workflow, typed; the plugin-author building blocks live in vidzoo.plugins; the plugin
packages import nothing else of vidzoo (docs/plugins.md, "What a plugin may import")."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
from pathlib import Path

import vidzoo
import vidzoo.plugins

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = {"get_registry", "list_models", "list_datasets", "list_transforms", "get_model_spec", "get_dataset_spec",
            "get_transform_spec", "create_model", "resolve_input_config", "create_transform", "create_dataset",
            "train", "evaluate", "export", "load"}
SPECS = {"ModelSpec", "InputConfig", "Weights", "DatasetSpec", "TransformSpec"}
# What a plugin package may import of vidzoo.
PLUGIN_MAY_IMPORT = {"vidzoo", "vidzoo.plugins", "vidzoo.errors", "vidzoo.testing"}


def test_vidzoo_holds_the_workflow_and_the_specs_only():
    assert set(vidzoo.__all__) == WORKFLOW | SPECS | {"hookimpl", "__version__"}
    for name in vidzoo.__all__:
        assert getattr(vidzoo, name) is not None, name
    assert not hasattr(vidzoo, "say") and not hasattr(vidzoo, "kinetics_transform")


def test_the_workflow_is_defined_once_with_return_types():
    from vidzoo import api

    for name in WORKFLOW:
        function = getattr(vidzoo, name)
        assert function is getattr(api, name) and function.__module__ == "vidzoo.api", name
        assert inspect.signature(function).return_annotation is not inspect.Signature.empty, name
        assert function.__doc__, name
    assert (ROOT / "vidzoo" / "py.typed").is_file()


def test_type_checkers_see_the_names_vidzoo_exports():
    tree = ast.parse((ROOT / "vidzoo" / "__init__.py").read_text())
    seen = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            seen |= {a.asname or a.name for n in node.body if isinstance(n, ast.ImportFrom) for a in n.names}
    assert seen == WORKFLOW | SPECS


def test_every_building_block_resolves_from_vidzoo_plugins():
    for name in vidzoo.plugins._AUTHOR_API:
        assert getattr(vidzoo.plugins, name) is not None, name
    from vidzoo.messages import say

    assert vidzoo.plugins.say is say  # the one say, not a second one


def test_importing_vidzoo_and_vidzoo_plugins_imports_no_torch():
    code = "import sys, vidzoo, vidzoo.plugins; vidzoo.ModelSpec; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stderr


def test_plugin_packages_import_only_the_public_modules():
    wrong = []
    for path in sorted((ROOT / "plugins").glob("*/vidzoo_*/**/*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            for name in names:
                if name.split(".")[0] == "vidzoo" and name not in PLUGIN_MAY_IMPORT:
                    wrong.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {name}")
    assert not wrong, "plugin packages import vidzoo's internal modules:\n" + "\n".join(wrong)
