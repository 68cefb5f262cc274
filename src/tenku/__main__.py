from tenku.cli import main

raise SystemExit(main())
