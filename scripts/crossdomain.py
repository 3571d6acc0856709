#!/usr/bin/env python
"""Cross-domain accuracy matrix; same as `tl-text crossdomain`. See --help."""

import sys

from tl_text.cli import main

if __name__ == "__main__":
    sys.exit(main(["crossdomain", *sys.argv[1:]]))
