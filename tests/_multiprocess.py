"""Run test scripts in fresh Python processes: virtual CPU devices and ``jax.distributed``.

``XLA_FLAGS=--xla_force_host_platform_device_count`` only counts before JAX starts, so
multi-device tests run their script in a subprocess. Every script prints one JSON object as its
last line of output; these helpers return it parsed.

- :func:`run_script`: one process with ``devices`` virtual CPU devices.
- :func:`run_two_processes`: two processes joined by ``jax.distributed`` on 127.0.0.1 (a free
  port), ``devices`` virtual devices each; the script starts with :data:`JOIN` (after any
  ``jax.config`` updates it needs) and finds its process index in ``pid``.

Imported by the test files as ``_multiprocess`` (``tests/conftest.py`` puts this folder on
``sys.path``; test files cannot import each other under ``--import-mode=importlib``).
"""

import json
import os
import socket
import subprocess
import sys
import textwrap

# joins the two processes started by run_two_processes (pid and port come as arguments)
JOIN = textwrap.dedent(
    """
    import sys
    import jax
    pid, port = int(sys.argv[1]), sys.argv[2]
    jax.distributed.initialize(f"127.0.0.1:{port}", num_processes=2, process_id=pid)
    """
)


def env(devices: int) -> dict[str, str]:
    """This environment with ``devices`` virtual CPU devices and no compilation cache.

    ``JAX_PLATFORMS=cpu``: on a machine with an accelerator JAX would otherwise pick it, and the
    script would see one GPU instead of the virtual CPU devices.
    """
    out = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")
    out["JAX_PLATFORMS"] = "cpu"
    out["JAXMI_COMPILATION_CACHE"] = "0"
    return out


def _last_json(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def run_script(script: str, *, devices: int, timeout: float = 600) -> dict:
    """Run ``script`` in one process with ``devices`` virtual devices; its last JSON line."""
    proc = subprocess.run(
        [sys.executable, "-c", script],
        env=env(devices),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return _last_json(proc.stdout)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_two_processes(script: str, *, devices: int = 2, timeout: float = 600) -> list[dict]:
    """Run ``script`` as processes 0 and 1 of one ``jax.distributed`` job; their JSON lines.

    Both processes start at once (the coordinator waits for the other); each gets ``devices``
    virtual CPU devices, so the job sees ``2 * devices``. Both are killed if either fails.
    """
    port = str(_free_port())
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(i), port],
            env=env(devices),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    outs = []
    try:
        for p in procs:
            stdout, stderr = p.communicate(timeout=timeout)
            assert p.returncode == 0, stderr[-3000:]
            outs.append(_last_json(stdout))
    finally:
        for p in procs:
            p.kill()
    return outs
