"""``python -m draw_gluon``: the ``draw-gluon`` command."""
import sys

from draw_gluon.runtime import cli_main

sys.exit(cli_main())
