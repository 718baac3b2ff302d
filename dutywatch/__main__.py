import sys

from dutywatch.cli import main

sys.exit(main())
