"""``python -m scripts.reference [--check]``: write the reference pages, or check them."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from scripts.reference.pages import REFERENCE_DIR, stale_pages, write_pages


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.reference",
        description="Write the reference pages in docs/reference/ from the code, or check them.",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 naming every page that differs from what the code generates",
    )
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_pages(REFERENCE_DIR)
        for path in stale:
            print(f"stale: {path} (run `make reference`)", file=sys.stderr)
        return 1 if stale else 0
    for path in write_pages(REFERENCE_DIR):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
