"""Optional parts of jaxkd and the packages they need.

``pip install jaxkd`` gives the JAX toolkit for tabular students and the theory;
``pip install 'jaxkd[llm]'`` adds the language-model packages :mod:`jaxkd.llm` and the
``llm-*`` experiments need. :func:`require` refuses, with one sentence, to go on without them.
"""

from __future__ import annotations

import importlib.util

EXTRAS = {"llm": ("torch", "transformers", "tokenizers", "safetensors", "sentence_transformers")}
TORCH_CPU = "https://download.pytorch.org/whl/cpu"


class MissingExtra(ImportError):
    """An optional part of jaxkd was used without the packages it needs."""


def missing(extra: str) -> list[str]:
    """The modules of ``extra`` that cannot be imported here."""
    out = []
    for name in EXTRAS[extra]:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            out.append(name)
    return out


def require(extra: str, what: str) -> None:
    """Raise :class:`MissingExtra` naming the install command when ``extra``'s packages are
    not all importable; ``what`` says who needs them."""
    gone = missing(extra)
    if gone:
        raise MissingExtra(
            f"{what} needs the {extra} extra ({', '.join(gone)} not installed): pip install 'jaxkd[{extra}]' "
            f"(for a CPU-only torch first: pip install torch --index-url {TORCH_CPU}).")
