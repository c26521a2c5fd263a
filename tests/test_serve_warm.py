"""The served runs start warm: `flows.serve` forks each flow run from a forkserver that imported Prefect's engine,
the flows and Great Expectations once (benchmarks/serve_latency.py measures the time it saves)."""

from __future__ import annotations

import json
import subprocess
import sys

from flows.serve import WARM_MODULES, _ForkedFromWarmServer
from tests.support.paths import ROOT

# In a fresh interpreter (this one's forkserver, if any, was started for other modules): the warm forkserver's
# child reports which modules it found in memory before its own first line ran.
CHILD = """
import json, multiprocessing, sys
from flows.serve import warm_forkserver
from tests.support.warm import loaded_modules

context = warm_forkserver(sys.argv[1:])
ours, theirs = multiprocessing.Pipe()
child = context.Process(target=loaded_modules, args=(theirs, sys.argv[1:] + ["wave"]))
child.start()
found = ours.recv()
child.join()
print(json.dumps({"found": found, "exitcode": child.exitcode, "main_had_gx": "great_expectations" in sys.modules}))
"""


def test_a_run_forked_from_the_warm_forkserver_starts_with_its_modules_imported():
    wanted = [*WARM_MODULES, "flows.select_cohort", "flows.send_notices"]
    done = subprocess.run(
        [sys.executable, "-c", CHILD, *wanted], cwd=ROOT, capture_output=True, text=True, timeout=180, check=True
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["exitcode"] == 0
    assert report["found"] == {**dict.fromkeys(wanted, True), "wave": False}  # a module nobody named stays out
    assert report["main_had_gx"] is False  # the serving process itself does not pay for GX


def test_prefect_asks_the_stand_in_for_spawn_and_gets_the_warm_context():
    import multiprocessing

    context = multiprocessing.get_context("forkserver")
    stand_in = _ForkedFromWarmServer(context)
    assert stand_in.get_context("spawn") is context
    assert stand_in.Process is multiprocessing.Process  # the rest is the module's own
