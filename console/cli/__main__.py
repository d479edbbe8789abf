"""`python -m stilalarm.console.cli`: the same as `alarm-console`."""

from stilalarm.console.cli import main

raise SystemExit(main())
