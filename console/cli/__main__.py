"""`python -m console.cli`: the same as `alarm-console`."""

from console.cli import main

raise SystemExit(main())
