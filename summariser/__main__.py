"""`python -m summariser` runs the command line."""

from .cli import main

main(prog_name="summariser")
