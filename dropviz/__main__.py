"""`python -m dropviz …`: the command line (see dropviz.cli)."""

from .cli import main

raise SystemExit(main())
