"""`python -m statusdesk ARGS` runs `statusdesk ARGS`."""

import sys

from bot.cli import main

if __name__ == "__main__":
    sys.exit(main())
