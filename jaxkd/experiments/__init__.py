"""The study's experiments, one package each (``config``, ``run``, ``report``, ``claims``: see
:mod:`jaxkd.experiments.experiment`), and the modules two or more of them share: the typed
results (:mod:`.results`), the regression task and its config fields (:mod:`.regression`,
:mod:`.regression_config`) and the language-model part (:mod:`.llm_study`). The table of
experiments is :data:`jaxkd.study.EXPERIMENTS`."""
