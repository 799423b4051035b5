"""``python -m pym2v``: the ``pym2v`` command."""

from pym2v.cli import main

main()
