"""The checks every classifier experiment's config shares (``objectives``, ``output-entropy``):
the model classes to run, classification datasets available offline, the widths and the
optimiser. JAX-free, as every config is."""

from __future__ import annotations

from jaxkd import _validation as v
from jaxkd.data import DATASETS, check_available


def check_classifiers(cfg, name: str, models: tuple[str, ...]) -> None:
    """Validate (and normalise in place) a frozen classifier config's ``model`` and ``models``
    (``model`` "all" runs every class in ``models``; a class alone runs that class),
    ``datasets`` (each a classification set or a .csv), ``teacher_hidden``,
    ``student_hidden``, ``epochs`` and ``learning_rate``; ``name`` is the experiment's, for
    the messages (``ValueError``, one sentence)."""
    v.check_choice(f"model for {name}", cfg.model, ("all", *models))
    if cfg.model != "all":  # one class: the model field decides the classes run
        object.__setattr__(cfg, "models", (cfg.model,))
    object.__setattr__(cfg, "datasets", v.check_grid("datasets", cfg.datasets, lambda n, d: d))
    for d in cfg.datasets:
        check_available(d)
        if not d.endswith(".csv") and DATASETS[d].task != "classification":
            raise ValueError(f"dataset {d!r} is a regression set; {name} needs classification.")
    object.__setattr__(cfg, "models", v.check_grid(
        "models", cfg.models, lambda n, m: v.check_choice("model class", m, models)))
    v.check_int("teacher hidden width", cfg.teacher_hidden)
    v.check_int("student hidden width", cfg.student_hidden)
    v.check_int("epochs", cfg.epochs)
    v.check_positive("learning rate", cfg.learning_rate)
