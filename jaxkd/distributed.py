"""Several processes, one run: ``jax.distributed`` for the ``jaxkd`` command.

Every process runs the same command with its own ``--process-id`` (and its own ``--out``);
after :func:`initialize` each sees every process's devices, the student axis is split over
all of them (:mod:`jaxkd.sharding`), and every process ends with the whole results, identical
to a one-process run at the same ``--chunk``. On CPU the processes exchange data through gloo
collectives; on GPUs through NCCL. Must run before anything else touches JAX's devices.
"""

from __future__ import annotations

import jax

from jaxkd import _validation as v


def initialize(coordinator: str, num_processes: int, process_id: int) -> None:
    """Join (or, as process 0, host) the cluster whose coordinator listens at ``host:port``.

    Raises:
      ValueError: a malformed address or a process id outside ``[0, num_processes)``.
    """
    host, _, port = coordinator.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"--coordinator must be host:port (e.g. 127.0.0.1:12345), got {coordinator!r}.")
    v.check_int("number of processes", num_processes, minimum=1)
    v.check_int("process id", process_id, minimum=0)
    if process_id >= num_processes:
        raise ValueError(f"--process-id {process_id} must be below --num-processes {num_processes}.")
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=coordinator, num_processes=num_processes,
                               process_id=process_id)
