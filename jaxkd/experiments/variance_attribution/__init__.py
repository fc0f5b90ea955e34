"""Which source of randomness makes MLP students disagree? Sensitivity indices of the
inter-student variance over teacher noise, initialization and minibatch order (beyond the study).

Each source has its own PRNG stream. N students are trained with all three varying (``V_all``,
the inter-student variance of the test predictions), then, for each source s, twice more:

* **only s varies**: the students fall into ``frozen_draws`` groups; in each group the other two
  sources are frozen at one draw of their own (every student of the group shares those keys)
  and s varies. The mean over groups of the within-group variance estimates
  ``E[Var(f | the others)]``, so ``T_s = mean / V_all`` is s's **total index**: its share of
  the variance alone and through every interaction.
* **s frozen**: in each group s is frozen at one draw and the others vary:
  ``S_s = 1 - mean / V_all`` is s's **first-order index**, the share explained by s alone
  (``Var(E[f | s]) / Var(f)``).

Averaging over frozen draws is what makes these indices (Sobol's first-order and total
indices, estimated by frozen-group variances) rather than the shares at one arbitrary frozen
draw of the others; their standard errors come from the spread of the group variances (delta
method for the ratio). ``sum T_s - sum S_s`` is the weight of the interactions.
"""
