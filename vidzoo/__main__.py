from vidzoo.cli import entry

if __name__ == "__main__":  # DataLoader workers (spawn) import this module again
    entry()
