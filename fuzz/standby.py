"""A warm standby for a process the nemesis restarts: ``python -m fuzz.standby MODULE [PRELOAD ...]``.

It imports ``PRELOAD`` (the program's heavy modules) ahead of time, then waits for one line on
stdin: a JSON list of arguments. It then runs ``python -m MODULE ARGS...`` in this same process
(``runpy``), so a restart after a kill costs the program's own start-up (opening the store,
recovery, binding its port) and not the Python imports, which under load took seconds of the
~6 s fault/heal cycle while nothing could progress.

Nothing of the killed process survives: the standby is a fresh process that opens nothing of the
system under test before it is told to run, and it runs the very program ``python -m MODULE``
would run. An empty line or EOF (the fuzzer went away) ends it.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import runpy
import sys


def main() -> None:
    module, *preload = sys.argv[1:]
    for name in preload:
        with contextlib.suppress(Exception):  # a missing optional module: imported on demand
            importlib.import_module(name)
    line = sys.stdin.readline()
    if not line.strip():
        return
    args = json.loads(line)
    sys.argv = [module, *(str(a) for a in args)]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
