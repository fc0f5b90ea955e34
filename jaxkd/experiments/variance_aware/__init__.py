"""Variance-aware distillation (study Section 7): averaging k responses vs variance weighting.

For each noise level alpha and number of responses k, N students are distilled with four
targets built from the same responses:

* ``average``: ``ybar`` (docs/theorems.md 7.1 predicts ``V = (sigma^2/k) c``);
* ``study``: the study's variance weighting (:func:`jaxkd.targets.study_variance_weighted`):
  ``ybar`` at the inverse of its per-input sample variance, combined with the clean teacher
  mean at ``1 / sigma^2``; equal to averaging at k = 1;
* ``leverage_oracle``: jaxkd's oracle variant, ``ybar`` at its true variance ``sigma^2/k``
  combined with the clean teacher mean at a single-response student's ``sigma^2 h_i``
  (:func:`jaxkd.targets.leverage_oracle_weighted`; not the study's method);
* ``honest``: ``ybar`` combined with a 5-fold cross-fitted OLS student, both variances
  estimated from the responses (:func:`jaxkd.targets.honest_variance_weighted`).

The study's metric is the test MSE against the ground truth, mean and spread across runs
(``*_mse_truth``, ``*_mse_truth_std``); inter-student variance and MSE against the teacher are
reported beside it.

With ``model="mlp"`` the teacher and the students are MLPs; the leverage oracle's student variance is
still the OLS one, and the honest first stage is still the cross-fitted OLS student, whose
error variance now includes its bias against the MLP teacher
(:func:`jaxkd.targets.crossfit_error_variance`). With k = 1 there are no replicates to
estimate the teacher's variance from, so honest weighting reduces to averaging there.
"""
