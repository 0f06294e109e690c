from vidzoo.cli import entry

entry()
