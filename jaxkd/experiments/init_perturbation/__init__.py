"""Student initialization uncertainty (study Section 5.1): multiplicative init perturbations.

A deterministic target (no teacher noise); every student starts from a Kaiming initialization
perturbed by :func:`jaxkd.students.mlp.perturb` at scale s (weights times ``1 + eps``,
``eps ~ N(0, s^2)``, biases shifted by ``N(0, (bias_scale s)^2)``, per student from the
``init_perturbation`` stream), and learns the training labels (``labels="truth"``, the study's
script) or an MLP teacher's outputs (``labels="teacher"``).

* ``fresh_init=True`` (the study's script, both presets): every student draws its own Kaiming
  init, the same one at every s, so the spread at s = 0 is the spread of fresh inits and each
  student's change with s is paired (the study draws new seeds at every s).
* ``fresh_init=False``: all students share one init, so s = 0 gives N identical students and
  any spread is the perturbation's.

Measured against s: mean and variance across students of the test MSE (the study's metric,
with every student's test MSE kept for paired comparisons), the inter-student variance of the
test predictions, and the variance across students of the parameters (averaged over
parameters) before and after training, whose ratio says whether training amplifies or damps
the initial spread. Departure from the study: it uses 10,000 replicates per s; the paper preset
runs 1,000 (``--students 10000`` runs the study's count).
"""
