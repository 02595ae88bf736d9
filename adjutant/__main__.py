import sys

from adjutant.cli import main

sys.exit(main())
