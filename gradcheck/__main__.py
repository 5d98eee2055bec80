"""`python -m gradcheck` runs the command line."""

from gradcheck.cli import main

raise SystemExit(main())
