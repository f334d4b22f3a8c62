"""Runs ``tensorchicken`` in a child process on gpiozero mock pins and prints every pin's
recorded states as JSON when it ends, so that a test can see the pins of a real process.

If the file named by ``TC_HANG_FLAG`` appears, the pipeline loop blocks forever on its next
frame: the narrowest way to hang a real loop from outside.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path

from gpiozero import Device
from gpiozero.pins.mock import MockFactory, MockPWMPin

import edge.pipeline
from edge.cli import main

Device.pin_factory = MockFactory(pin_class=MockPWMPin)

hang_flag = os.environ.get("TC_HANG_FLAG")
if hang_flag:
    original = edge.pipeline.CameraLoop.process

    def process(self, frame):  # type: ignore[no-untyped-def]
        if Path(hang_flag).exists():
            threading.Event().wait()  # hangs for good
        original(self, frame)

    edge.pipeline.CameraLoop.process = process  # type: ignore[method-assign]

code = main(sys.argv[1:])
factory = Device.pin_factory
states = {
    info.name: [[s.timestamp, bool(s.state)] for s in pin.states]
    for info, pin in factory.pins.items()  # type: ignore[attr-defined]
}
print(json.dumps({"code": code, "states": states}), flush=True)
