#!/usr/bin/env python
"""Entry point: ``python run.py <command> ...`` (same as the ``uer-ray`` console script)."""

from uer_ray.cli import console

if __name__ == "__main__":
    console()
