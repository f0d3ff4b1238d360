"""``python -m inventree_notify_plus demo``: the same as the ``notify-plus`` command."""

from .devtools.cli import main

raise SystemExit(main())
