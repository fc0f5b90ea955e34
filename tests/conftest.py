"""Test settings: silent broadcasts and implicit dtype promotion are errors (as in equinox)."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# The test workers and the CLI processes they start share jaxkd's persistent compilation cache
# (the user's, as `jaxkd` itself uses: ~/.cache/jaxkd/jax), so a program compiled by one is
# loaded by the others, and by the next `make test`.

from jaxkd import compiler  # noqa: E402

compiler.configure()  # the XLA settings the `jaxkd` command runs with (inherited by its subprocesses)

import jax  # noqa: E402
import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

from jaxkd import compilation_cache  # noqa: E402

_cache = compilation_cache.enable()
if _cache is not None:  # notebook kernels are plain Python processes: hand them the same cache
    os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(_cache))
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")
jax.config.update("jax_numpy_rank_promotion", "raise")
jax.config.update("jax_numpy_dtype_promotion", "strict")

# Property tests are derandomized in `make test` so it never flakes; `make test-all` loads the
# "random" profile (--hypothesis-profile=random): fresh examples every run, more of them.
# Deadlines off because of jit compiles.
settings.register_profile("ci", derandomize=True, deadline=None, max_examples=25)
settings.register_profile("random", derandomize=False, deadline=None, max_examples=200)
settings.load_profile("ci")


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield
