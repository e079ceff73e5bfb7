from pyrun.cli import main

raise SystemExit(main())
