"""The language-model part of the study, shared by the ``llm-*`` experiments, one module per
concern:

* :mod:`.config` — the configuration every llm-* experiment shares, and its paper preset;
* :mod:`.setup` — corpus, tokenizer, teacher and base student, the task, the on-disk cache;
* :mod:`.memory` — what an experiment needs, and the refusal when not even one student fits;
* :mod:`.replicates` — R x N students distilled and sampled in chunks, and their typed outputs;
* :mod:`.measures` — every measure, one value per replicate, and the typed sweep results;
* :mod:`.stats` — replicate means and their intervals;
* :mod:`.report` — the report header, tables and error bars.

Everything model-side goes through the study-independent :mod:`jaxkd.llm.distill`.
"""
