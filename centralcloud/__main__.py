import sys

from centralcloud.runtime import cli

sys.exit(cli.main())
