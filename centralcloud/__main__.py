import sys

from centralcloud import cli

sys.exit(cli.main())
