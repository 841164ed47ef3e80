import sys

from robovlms.cli import main

sys.exit(main())
