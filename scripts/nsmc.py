#!/usr/bin/env python
"""Korean NSMC track; same as `tl-text nsmc`. See --help."""

import sys

from tl_text.cli import main

if __name__ == "__main__":
    sys.exit(main(["nsmc", *sys.argv[1:]]))
