"""The classifier stands on its own (issue 18): importing it loads nothing of the appliance.

A fresh interpreter is the only honest check: in the test process, other tests have already
imported the appliance's modules.
"""

from __future__ import annotations

import json
import subprocess
import sys

# The reporters' clients (MQTT and X) and the appliance itself: what a program that only wants
# to classify pictures must not have to install or load.
APPLIANCE_MODULES = ("paho", "tweepy", "edge")


def test_importing_the_classifier_loads_no_reporter_client_and_nothing_of_edge() -> None:
    probe = (
        "import json, sys\n"
        "import classifier.package\n"
        "print(json.dumps(sorted(m for m in sys.modules\n"
        f"                        if m.split('.')[0] in {APPLIANCE_MODULES!r})))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, timeout=120)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
