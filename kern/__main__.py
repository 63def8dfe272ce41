"""`python -m kern` is the `kern` command."""

from kern.cli import main

main()
