"""`python -m cablewatch` runs the CLI."""

from cablewatch.cli import main

main()
