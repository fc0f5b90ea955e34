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


# The longest tests first (measured with --durations; 10-35 s each), so the two xdist workers
# finish together instead of one waiting on a long test started last. Order only; every test runs.
_LONGEST = ("test_verification_passes_has_power", "test_llm_experiment_end_to_end", "test_compilation_cache_is_written",
            "test_shared_llm_work", "test_notebook_executes", "test_paper_preset_on_tiny_hf_checkpoints",
            "test_run_writes_a_complete_run_directory", "test_four_devices_match_one", "test_benchmark_runs_and_writes",
            "test_reproduce_writes_report_html_and_summary_and_resume", "test_two_processes_give_the_one_process_results",
            "test_killed_sweep_resumes", "test_draw_protocol_per_student")


def pytest_collection_modifyitems(config, items):
    items.sort(key=lambda item: next((i for i, name in enumerate(_LONGEST) if name in item.nodeid), len(_LONGEST)))


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
    """Drop JAX's compiled programs after each test file. A program loaded from the persistent
    compilation cache keeps its own memory mappings (about 19,000 after the six llm-* end-to-end
    tests alone), so a test worker that loads a few hundred files' worth passes Linux's
    vm.max_map_count (65,530) and XLA crashes (an abort or a segmentation fault in
    deserialisation, seen in four warm make test runs); ``jax.clear_caches`` releases them
    (19,065 -> 1,554 mappings). Tests in one file still share their programs."""
    yield
    jax.clear_caches()
