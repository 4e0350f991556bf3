"""The "did you mean" hint that ends the message of every unknown name, key or choice (by
``difflib``'s similarity ratio)::

    raise OptionsError(f"--pooling {o.pooling!r} is not one of ...{did_you_mean(o.pooling, CHOICES)}")
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable


def did_you_mean(word: object, choices: Iterable[object], *, n: int = 1, cutoff: float = 0.6,
                 brackets: bool = False, show: Callable[[str], str] = repr) -> str:
    """``"; did you mean 'x'?"`` (up to ``n`` choices: ``'x' or 'y'``) when a choice is close
    to ``word`` (similarity at least ``cutoff``), else ``""``. ``brackets``: written
    ``" (did you mean 'x'?)"``; ``show`` writes each choice (default: quoted)."""
    names = list(dict.fromkeys(str(c) for c in choices))
    close = difflib.get_close_matches(str(word), names, n=n, cutoff=cutoff)
    if not close:
        return ""
    text = f"did you mean {' or '.join(show(c) for c in close)}?"
    return f" ({text})" if brackets else f"; {text}"
