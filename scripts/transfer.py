#!/usr/bin/env python
"""Amazon → IMDB transfer experiment; same as `tl-text transfer`. See --help."""

import sys

from tl_text.cli import main

if __name__ == "__main__":
    sys.exit(main(["transfer", *sys.argv[1:]]))
