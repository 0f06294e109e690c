"""vidzoo's version, in one place: pyproject.toml reads it (dynamic version) and any module imports it
without importing the package face (vidzoo/__init__.py)."""

__version__ = "0.1.0"
