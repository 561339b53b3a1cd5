"""Imported first by the training package: torchrun starts ``python -m pulumi_mlops.runtime.training``, which
imports the package before numpy, scikit-learn and torch load their thread pools, so they are sized to the pod's
CPU limit here (:func:`pulumi_mlops.runtime.cpus.limit_threads`; the ``mlops`` command has done it already)."""

from ..cpus import limit_threads

limit_threads()
