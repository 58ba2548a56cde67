import sys

from benchfleet.harness.run import main

sys.exit(main())
