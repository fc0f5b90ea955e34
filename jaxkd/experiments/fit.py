"""How far an experiment's students trained: :class:`FitSummary`, one per ensemble of students,
saved in results.json and shown beside every table of students.

Students that stopped at a fixed budget measure how far training got; a verdict drawn from them
says so. Every experiment therefore records, per ensemble: the budget (epochs, and the mean
optimisation steps the students took), the mean final training loss, the mean held-out loss
where the experiment has one, and the share of students whose training loss had stopped moving
(:data:`RULE`, judged from each student's loss history by
:func:`jaxkd.students.ensemble.convergence_at_end`, or the experiment's own stopping rule when it
trained to convergence). ``asked`` says whether convergence was asked for (a stopping rule); a
row where it was and fewer than :data:`CONVERGED_SHARE` of the students converged is flagged.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from jaxkd import document as doc
from jaxkd.formatting import fmt
from jaxkd.students import ensemble

#: The record's rule for students trained a fixed budget: converged when the training loss moved
#: by less than 1e-4 of itself over the last 10 epochs (the engine's default stopping rule).
RULE = ensemble.Stopping()
#: A row where convergence was asked is flagged below this share of converged students.
CONVERGED_SHARE = 0.95


def rule_text(stopping: ensemble.Stopping = RULE) -> str:
    """The stopping rule in words."""
    text = (f"the {'training' if stopping.monitor == 'train' else 'held-out'} loss moved by less than "
            f"{stopping.tol:g} of itself over {stopping.window} epochs")
    return text + (f", or the gradient norm fell below {stopping.grad_tol:g}" if stopping.grad_tol else "")


@dataclasses.dataclass(frozen=True)
class FitSummary:
    """One ensemble's fit: ``students`` trained at most ``epochs`` epochs (``steps``: the mean
    optimisation steps taken), their mean final ``train_loss`` and ``held_out_loss`` (None
    where not measured), the share ``converged`` under ``rule``, and whether a stopping rule
    trained them (``asked``)."""

    students: int
    epochs: int
    steps: float
    train_loss: float
    held_out_loss: float | None
    converged: float
    asked: bool
    rule: str

    @classmethod
    def of(cls, convergence: ensemble.Convergence, epochs: int, held_out=None, *, asked: bool = False,
           stopping: ensemble.Stopping = RULE) -> "FitSummary":
        """From the engine's :class:`~jaxkd.students.ensemble.Convergence` (N students) and
        optional per-student held-out losses (N,)."""
        held = None if held_out is None else float(np.mean(np.asarray(held_out, float)))
        return cls(int(np.size(convergence.converged)), int(epochs), float(np.mean(convergence.steps)),
                   float(np.mean(convergence.final_loss)), held, float(np.mean(convergence.converged)),
                   bool(asked), rule_text(stopping))

    @classmethod
    def recorded(cls, epoch_losses, epochs: int, held_out=None, steps_per_epoch: int = 1) -> "FitSummary":
        """From (N, E) per-epoch training losses of students trained a fixed budget
        (:func:`jaxkd.students.mlp.train_recorded`), judged by :data:`RULE`."""
        return cls.of(ensemble.convergence_at_end(RULE, epoch_losses, steps_per_epoch), epochs, held_out)

    @classmethod
    def from_json(cls, data: dict) -> "FitSummary":
        return cls(**data)

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @property
    def flagged(self) -> bool:
        """Convergence was asked for and fewer than :data:`CONVERGED_SHARE` got there."""
        return self.asked and self.converged < CONVERGED_SHARE

    def row(self, label: str) -> list[str]:
        """A row of :func:`table`."""
        share = f"{100 * self.converged:.0f}%" + (" (below 95%: flagged)" if self.flagged else "")
        return [label, str(self.students), f"{self.epochs}" + (" (cap)" if self.asked else ""), fmt(self.steps, 4),
                fmt(self.train_loss, 4), "n/a" if self.held_out_loss is None else fmt(self.held_out_loss, 4), share]


def of_json(value) -> FitSummary | None:
    """A stored fit (a dict, or a FitSummary already) as a :class:`FitSummary` (None stays None)."""
    if value is None or isinstance(value, FitSummary):
        return value
    return FitSummary.from_json(dict(value))


def table(rows, what: str = "students") -> list:
    """The report's fit table: ``rows`` are ``(label, FitSummary or its JSON)``; a sentence
    stating the rule(s) leads it. Returns document blocks (empty when no row has a fit)."""
    rows = [(label, of_json(f)) for label, f in rows if f is not None]
    if not rows:
        return []
    rules = sorted({f.rule for _, f in rows})
    flagged = [label for label, f in rows if f.flagged]
    text = (f"How far the {what} trained: mean final training loss, held-out loss, and the share converged "
            f"({'; '.join(rules)}). A budget the students did not finish measures how far training got.")
    if flagged:
        text += f" Convergence was asked but not reached by 95% of the students in: {', '.join(flagged)}."
    return [doc.Paragraph(text),
            doc.Table(["ensemble", "students", "epochs", "mean steps", "training loss", "held-out loss",
                       "converged"], [f.row(label) for label, f in rows])]
