"""Entry point the Pulumi CLI runs for this pack. It only builds the PolicyPack from the rule list.

Constructing ``PolicyPack`` starts the analyzer's gRPC server and blocks, so nothing else may
construct it; the offline plan imports the rule list from ``policies.security`` instead.
"""

import sys
from pathlib import Path

# The CLI runs this file from the pack directory: make the repo root (policies/, catalog/) importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from pulumi_policy import PolicyPack

from policies.security import DESCRIPTION, ENFORCEMENT, NAME, POLICIES

PolicyPack(name=NAME, policies=POLICIES, enforcement_level=ENFORCEMENT, description=DESCRIPTION)
