"""`python -m micro …`: the same command as `micro …`."""

from micro.cli import main

if __name__ == "__main__":
    main(prog_name="micro")
