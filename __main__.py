"""``python -m filmrestore``: the headless command line."""
from .cli import main

raise SystemExit(main())
