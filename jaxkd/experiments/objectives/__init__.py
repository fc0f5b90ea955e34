"""Beyond the study: which distillation objective keeps a classifier's uncertainty? (issue 23;
the tabular analogue of ``llm-objectives``)

On the output-entropy datasets, teachers (logistic regression, and one-hidden-layer ReLU
networks) are trained on the true labels, one per seed; from each teacher, students of the
same class (half the hidden width for networks) are distilled with every objective of
:mod:`jaxkd.divergences`: the teacher's probabilities at temperature T under forward KL, JSD(β)
for each β in ``betas`` (TRL's meaning) and reverse KL, and, as in the study, the teacher's hard
argmax labels (forward KL to a one-hot target: cross-entropy; always at T = 1). Every student of
a dataset and model class (objectives x seeds) is one array axis trained in one compiled program
(:func:`jaxkd.students.ensemble.train`, the objective's β and T travel with the targets); a
seed's students share their initialization across objectives, so differences between
objectives are paired. The students train to stationarity (the theory's predictions hold
there): each stops on its own once its training loss moves by less than ``stopping_tol`` of
itself over 20 epochs or its gradient norm falls below ten times that (the engine's
:class:`~jaxkd.students.ensemble.Stopping`, capped at ``student_epochs``); the report shows
each objective's steps, converged share and loss. ``jaxkd reproduce`` re-judges every claim at
twice that budget and at the teachers' fixed 150 epochs.

Measured on the test split, per seed: accuracy; mean predictive entropy (nats) over all test
examples and over those the *teacher* gets right / wrong (the same examples for every model);
expected calibration error (15 bins); agreement with the teacher. On the training split, for the
forward-KL and hard-label students, the entropy gap to the target and the residual forward KL,
which X.5 says are equal at a stationary point. Intervals: 95% Student-t over seeds (each seed a
fresh teacher and fresh students), of the per-seed student − teacher differences.

Theory (docs/theorems.md X.4-X.7): a student that can represent its teacher reaches it under
every objective (X.4), so objectives can only differ through what the student cannot represent
or through unfinished training; forward KL never narrows at stationarity (X.5). The claims are
phrased that way: X.5 checked on the trained students (training-set entropy gap against their
residual KL); reverse KL and JSD(β) narrower than forward KL for restricted (MLP) students and
equal to it for logistic students of logistic teachers; the held-out entropy gap judged on its
own; a claim the theory makes at stationarity "inconclusive (regime)" while the forward-KL
students' X.5 remainder exceeds 10% of the margin.
"""
