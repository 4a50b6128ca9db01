"""`python -m workbench.cli`: the `workbench` command."""

import sys

from workbench.cli import main

if __name__ == "__main__":  # not when a walk of the package imports it
    sys.exit(main())
