"""``python -m pulumi_mlops``: the same as the ``mlops`` command."""

from pulumi_mlops.cli import main

main()
