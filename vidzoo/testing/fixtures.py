"""The pytest fixture of the kit (pytest is optional: the checks work without it)."""

from __future__ import annotations

import os

try:
    import pytest
except ImportError:  # pragma: no cover
    pytest = None

if pytest is not None:

    @pytest.fixture(autouse=True, scope="module")
    def private_cache(tmp_path_factory):
        """Weights downloads and demo data go to a cache of the test module, never the user's.

        Import it into a test module (``from vidzoo.testing import private_cache``): it is autouse.
        """
        old = os.environ.get("VIDZOO_CACHE")
        os.environ["VIDZOO_CACHE"] = str(tmp_path_factory.mktemp("vidzoo-cache"))
        yield
        if old is None:
            os.environ.pop("VIDZOO_CACHE", None)
        else:
            os.environ["VIDZOO_CACHE"] = old
