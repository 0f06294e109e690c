"""File templates of `vidzoo new-plugin` (Python strings, so they ship inside the vidzoo package)."""
