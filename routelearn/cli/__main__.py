"""``python -m routelearn.cli``: the ``routelearn`` command without its installed script."""

from routelearn.cli import main

main()
