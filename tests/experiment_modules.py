"""Every name of an experiment's four modules (config, run, report, claims) on one namespace,
for tests that reach past the experiment's face (:class:`jaxkd.experiments.experiment.Experiment`)
into its helpers: ``teacher_noise = face("teacher_noise"); teacher_noise._simulate(...)``."""

import importlib
import types

PARTS = ("config", "run", "report", "claims")


def face(package: str) -> types.SimpleNamespace:
    """The names of ``jaxkd.experiments.<package>``'s modules, later modules over earlier ones;
    a name two modules bind to different objects is left out (ambiguous)."""
    names: dict = {}
    clashes = set()
    for part in PARTS:
        module = importlib.import_module(f"jaxkd.experiments.{package}.{part}")
        for k, v in vars(module).items():
            if k.startswith("__"):
                continue
            if k in names and names[k] is not v and not isinstance(v, types.ModuleType):
                clashes.add(k)
            names[k] = v
    for k in clashes - {"run"}:
        names.pop(k)
    names["run"] = importlib.import_module(f"jaxkd.experiments.{package}.run").run
    return types.SimpleNamespace(**names)
