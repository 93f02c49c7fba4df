"""``python -m audioflow``."""

from audioflow.cli import main

main()
