"""The CrossGuard pack: ``pulumi preview --policy-pack policies [--policy-pack-config cfg.json]``.

Building ``PolicyPack`` starts the analyzer server and blocks; nothing else may import this file.
"""

import os
import sys

try:
    from pulumi_mlops.policies import ALL_POLICIES, DEFAULT_ENFORCEMENT_LEVEL, PACK_NAME
except ImportError:  # run from a checkout without the package installed
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from pulumi_mlops.policies import ALL_POLICIES, DEFAULT_ENFORCEMENT_LEVEL, PACK_NAME

from pulumi_policy import PolicyPack

PolicyPack(name=PACK_NAME, policies=ALL_POLICIES, enforcement_level=DEFAULT_ENFORCEMENT_LEVEL)
