from mazeprobe.cli import main

raise SystemExit(main())
