"""Entry point for both ``pulumi up`` (``main: infra/`` in Pulumi.yaml) and ``python -m infra``.

Under the Pulumi engine the runtime is configured before this file runs, so it runs the
program; from a shell it runs the command line (``plan``, ``check``, ``ops``).
"""

import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:  # the engine runs this directory as a script
    sys.path.insert(0, _ROOT)


def _under_pulumi_engine() -> bool:
    from infra.plan.sdk_compat import under_engine

    return under_engine()


if __name__ == "__main__":
    if _under_pulumi_engine():
        from infra.program import main

        main()
    else:
        from infra.cli import main as cli_main

        sys.exit(cli_main())
