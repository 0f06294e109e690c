import os

import pytest


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    # Weights downloads and the demo sample go to the test session's cache, never the user's.
    old = os.environ.get("VIDZOO_CACHE")
    os.environ["VIDZOO_CACHE"] = str(tmp_path_factory.mktemp("vidzoo-cache"))
    yield
    if old is None:
        os.environ.pop("VIDZOO_CACHE", None)
    else:
        os.environ["VIDZOO_CACHE"] = old
