#!/usr/bin/env python
"""Entry point: ``python run.py <command> ...`` (same as the ``uer-ray`` console script)."""

import sys

from uer_ray.cli import main

if __name__ == "__main__":
    sys.exit(main())
