"""Scale-out: the student axis split across devices with ``jax.shard_map``.

Students never interact, so an ensemble computation ``fn`` that is vmapped over a leading
student axis runs unchanged on every device, each holding ``N / D`` students of a 1-D mesh
``("students",)``. Every device runs the same per-student program as a single device would.
At the same ``block`` (students per block on each device) the results are bitwise identical
to the one-device run, and the tests hold them to equality; without ``block`` each device's
batch is its whole share, so the batch size of matrix products changes with the device count
and the last bits may differ (the tests hold that case to a relative 1e-12 in float64).

Devices: all visible ones by default (``jax.devices()``: with ``jax.distributed.initialize``
that is every host's accelerators), or the first ``n`` inside :func:`use_devices`, which the
CLI's ``--devices`` sets. On one device everything below is a no-op.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import functools
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from jaxkd import _validation as v

AXIS = "students"
_DEVICES: contextvars.ContextVar[int | None] = contextvars.ContextVar("jaxkd_devices", default=None)


def device_count(devices: int | None = None) -> int:
    """How many devices the student axis is split over: ``devices``, else the
    :func:`use_devices` setting, else every visible device.

    Raises:
      ValueError: fewer than 1, or more than are visible.
    """
    n = _DEVICES.get() if devices is None else devices
    available = jax.device_count()
    if n is None:
        return available
    v.check_int("devices", n)
    if n > available:
        raise ValueError(f"--devices {n} asks for more devices than the {available} visible "
                         f"({jax.default_backend()}); use at most {available}.")
    return n


@contextlib.contextmanager
def use_devices(devices: int | None):
    """Within the block, split student axes over the first ``devices`` devices (None: all)."""
    if devices is not None:
        device_count(devices)  # validate now, not deep inside a sweep
    token = _DEVICES.set(devices)
    try:
        yield
    finally:
        _DEVICES.reset(token)


@functools.lru_cache(maxsize=None)
def mesh(devices: int) -> Mesh:
    """The 1-D ``("students",)`` mesh over the first ``devices`` devices."""
    return Mesh(np.asarray(jax.devices()[:devices]), (AXIS,))


def student_sharding(devices: int) -> NamedSharding:
    """Leading (student) axis split over the mesh, other axes whole."""
    return NamedSharding(mesh(devices), P(AXIS))


def _in_blocks(fn, per_student, shared, static, block):
    """``fn`` over the student axis in blocks of ``block`` students (``lax.map``), padded with
    copies of student 0 and cut; the whole axis at once when ``block`` is None or covers it."""
    n = jax.tree.leaves(per_student)[0].shape[0]
    if block is None or block >= n:
        return fn(*per_student, *shared, *static)
    blocks = jax.tree.map(lambda a: a.reshape(-1, block, *a.shape[1:]), pad_students(per_student, block))
    out = jax.lax.map(lambda p: fn(*p, *shared, *static), blocks)
    return jax.tree.map(lambda a: a.reshape(-1, *a.shape[2:])[:n], out)


@functools.lru_cache(maxsize=256)
def _compiled(fn, devices: int, static: tuple, block: int | None):
    def body(per_student, shared):
        return _in_blocks(fn, per_student, shared, static, block)

    if devices == 1:
        return jax.jit(body)
    return jax.jit(jax.shard_map(body, mesh=mesh(devices), in_specs=(P(AXIS), P()),
                                 out_specs=P(AXIS), check_vma=False))


def pad_students(tree, multiple: int):
    """Pad every leaf's leading axis to a multiple of ``multiple`` with copies of student 0."""
    n = jax.tree.leaves(tree)[0].shape[0]
    pad = (-n) % multiple
    if not pad:
        return tree
    return jax.tree.map(lambda a: jnp.concatenate([a, jnp.repeat(a[:1], pad, axis=0)]), tree)


def distribute(tree, devices: int, multiple: int | None = None):
    """Pad the student axis to a multiple of ``multiple`` (default: ``devices``) and split it
    over the first ``devices`` devices."""
    return place(pad_students(tree, multiple or devices), student_sharding(devices))


def replicate(tree, devices: int):
    """Every leaf whole on each of the first ``devices`` devices."""
    return place(tree, NamedSharding(mesh(devices), P()))


def place(tree, sharding: NamedSharding):
    """Put every leaf of ``tree`` on ``sharding``. In one process that is ``jax.device_put``.
    Under ``jax.distributed`` every process holds the same full values (same seeds, same
    code), and each builds only the shards on its own devices from them: a process cannot put
    data on another host's devices."""
    if jax.process_count() == 1:
        return jax.device_put(tree, sharding)

    def one(a):
        if not hasattr(a, "dtype"):  # Python scalars: constants, the same on every process
            return a
        if jnp.issubdtype(a.dtype, jax.dtypes.prng_key):
            impl = jax.random.key_impl(a)
            return jax.random.wrap_key_data(one(jax.random.key_data(a)), impl=impl)
        host = np.asarray(a)
        return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])

    return jax.tree.map(one, tree)


def gather(tree, n: int | None = None):
    """Students back on one device (every host's, under jax.distributed), cut to the first ``n``."""
    if jax.process_count() > 1:
        tree = multihost_utils.process_allgather(tree, tiled=True)
    else:
        tree = jax.device_put(tree, jax.devices()[0])
    return tree if n is None else jax.tree.map(lambda a: a[:n], tree)


@dataclasses.dataclass(frozen=True)
class _Ordered:
    """``fn`` called with its arguments in their own order from (per-student, shared, static)
    groups: ``slots[i]`` = (group, index) of argument i. Hashable, so compiled programs are
    cached per function and argument layout."""

    fn: Callable
    slots: tuple[tuple[int, int], ...]

    def __call__(self, *flat):
        groups, start = [], 0
        sizes = [sum(1 for g, _ in self.slots if g == k) for k in range(3)]
        for size in sizes:
            groups.append(flat[start:start + size])
            start += size
        return self.fn(*(groups[g][j] for g, j in self.slots))


def map_students(fn, *args, in_axes: tuple, static_argnums: tuple[int, ...] = (),
                 block: int | None = None, devices: int | None = None):
    """``fn(*args)`` with the student axis split over devices, vmap-style.

    Args:
      fn: a function of independent students (vmapped inside): every output leaf has the
        leading student axis of the per-student inputs. A module-level function, so the
        compiled program is reused across calls.
      args: ``fn``'s arguments, in its own order.
      in_axes: one entry per argument, as ``jax.vmap``'s: 0 for pytrees whose every leaf is
        (N, ...) (split over devices), None for arguments every device gets whole (data, the
        teacher's outputs). Other axes are refused.
      static_argnums: positions of hashable arguments (configs, sizes) passed through as
        Python values; their ``in_axes`` entry must be None.
      block: students per block on each device (``lax.map`` over blocks; bounds memory).
        Results are bitwise identical for any device count at the same ``block``; with the
        default (each device's whole share at once) the per-device batch size changes with the
        device count, and so may the last bits of matrix products.
      devices: override of :func:`device_count`.

    Returns:
      ``fn``'s output with leading axis N, on one device. N need not divide by the device
      count: the axis is padded with copies of student 0 and cut afterwards.
    """
    in_axes = tuple(in_axes)
    if len(in_axes) != len(args):
        raise ValueError(f"in_axes has {len(in_axes)} entries for {len(args)} arguments.")
    if any(a not in (0, None) for a in in_axes):
        raise ValueError(f"map_students splits the leading axis only: in_axes entries must be 0 or None, got {in_axes}.")
    if any(in_axes[i] is not None for i in static_argnums):
        raise ValueError("static arguments are passed whole: their in_axes entry must be None.")
    if 0 not in in_axes:
        raise ValueError("map_students needs at least one per-student argument (in_axes entry 0).")
    slots, groups = [], ([], [], [])
    for i, (a, axis) in enumerate(zip(args, in_axes)):
        g = 2 if i in static_argnums else (0 if axis == 0 else 1)
        slots.append((g, len(groups[g])))
        groups[g].append(a)
    per_student, shared, static = (tuple(g) for g in groups)
    d = device_count(devices)
    if d == 1 and block is None:
        return fn(*args)
    ordered = _Ordered(fn, tuple(slots))
    n = jax.tree.leaves(per_student)[0].shape[0]
    if d == 1:
        return _compiled(ordered, 1, static, block)(per_student, shared)
    local = -(-n // d)
    if block is not None and block < local:
        local = -(-local // block) * block  # whole blocks on every device
    if jax.process_count() > 1:  # shared inputs must be global arrays too, replicated
        shared = replicate(shared, d)
    return gather(_compiled(ordered, d, static, block)(distribute(per_student, d, local * d), shared), n)
