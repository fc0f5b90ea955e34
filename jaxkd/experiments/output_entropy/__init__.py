"""Student output uncertainty (study Section 6.1): do distilled classifiers keep the teacher's
predictive entropy?

For each dataset and model class, ``replicates`` independent teachers are trained on the true
labels (each from its own initialization); each teacher's student learns its hard
pseudo-labels (the study's protocol) and, as a comparison the study did not run, another learns
its probabilities at a temperature (soft targets). Reported on the test set, averaged over
replicates: accuracy, and predictive entropy (nats) mean ± std over all / correctly /
incorrectly classified examples with counts, each model grouped by its own correctness (the
study's table); "disjoint" when the teacher's and the student's mean ± std intervals are
(the study's rule), as the share of replicates where they are.

The verdict rests on a paired comparison instead: per replicate and group of the *teacher's*
correct / incorrect test examples, the student's mean entropy minus the teacher's on the same
examples; its mean over replicates and a t-interval from their spread (so the interval covers
the randomness of teacher and student training). The margin it is held to is how much the
teacher itself moves when retrained: on each replicate's group, the next replicate's teacher's
mean entropy minus this teacher's; 1.96 times their root mean square (at least
:data:`MARGIN_FLOOR` nats). A group is judged when it holds at least :data:`MIN_EXAMPLES` test
examples per replicate on average, over at least :data:`MIN_REPLICATES` replicates; smaller
groups are reported, not judged.
"""
