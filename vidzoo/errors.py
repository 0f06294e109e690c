"""Errors that the CLI shows as one line (exit code 2) instead of a traceback."""


class VidzooError(Exception):
    """A mistake the user can fix; the message says what is wrong and how to fix it."""


class UnknownNameError(VidzooError, KeyError):
    def __str__(self):  # KeyError would quote the message
        return self.args[0]


class PluginError(VidzooError):
    """A plugin failed to load, raised in its hook, or broke a contract."""
