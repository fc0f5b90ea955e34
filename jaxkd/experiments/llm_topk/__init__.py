"""Beyond the study: what truncating the teacher to its top k tokens does to the students'
uncertainty, with the teacher's logits computed once and distilled from a file.

Distillation libraries store the teacher's per-token distribution as its top k tokens (offline
logits: DistillKit, Tunix's ``distill_top_k``, MaxText), and say nothing of what the truncation
does. Here every student distils with forward KL from a teacher-logits file
(:mod:`jaxkd.llm.teacher_logits`) holding the teacher's top k and one exact tail bucket per scored
token, in two target forms: **top-k + tail bucket** (the student's mass outside the teacher's k
tokens fitted to the teacher's) and **renormalised top-k** (Tunix's form: the teacher's k tokens
renormalised, nothing outside them), at k ∈ {1, 5, 20, 100} and the full distribution.

Protocol: each student gets its own teacher answer per prompt drawn at the teacher's temperature
(the positions of its soft targets, as llm-objectives' forward-KL row); the file is computed once
per k over every student's pairs and reused by every row, replicate and later run (content-hashed
in the run's shared folder). Init and data order are fixed within a replicate, so students of a
replicate differ only through their teacher draws; R replicates have their own. Every row trains
the same steps (compute matched), and again until each student's training loss stops moving
(the engine's stopping rule, three times the steps as the cap). Measured per replicate on the
evaluation prompts: answer entropy against the teacher and the truth (S.3), TV excess,
hallucination, the between-student variance with its S.1 floor and corrected, the floorless
log-prob spread, the calibration (ECE) of the next-token distribution on the true answers weighted
by their probability, and each student's next-token mass outside the teacher's top k on its own
training positions beside the teacher's; per k the file's bytes per token against the full
distribution's, and the teacher pass's time.

Predictions (docs/theorems.md X.8, X.9), each decided by an interval: with the tail bucket the
students' mass outside the top k follows the teacher's (X.8: the loss fits the tail's mass),
renormalised it falls toward zero (X.9); renormalising narrows the students (X.9: their entropy
tends to that of the renormalised head), most at k = 1; the bucket keeps the students' answer
entropy closer to the full-distribution students' than renormalising does.
"""
