"""One module per CLI command, imported only when that command runs."""

import argparse


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose mistakes are one line (via VidzooError: exit 2, no usage dump)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message):
        from vidzoo.errors import VidzooError

        raise VidzooError(f"{message}; see `{self.prog} --help`")
