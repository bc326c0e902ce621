"""`python -m bot`: the command line (bot/frontends/cli.py)."""

import sys

from bot.frontends.cli import main

sys.exit(main())
