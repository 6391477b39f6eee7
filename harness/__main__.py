"""`python -m harness`: the webhook-conformance command line."""

from harness.cli import main

raise SystemExit(main())
