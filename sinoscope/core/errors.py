"""One root for every error Sinoscope raises on purpose, and one mark for those worth retrying.

Catch ``SinoscopeError`` to tell "Sinoscope refused or could not do this, and says why" from a
bug; catch ``RetryableError`` where a later attempt may succeed (a busy store file, a cluster or
broker that is down, a throttled request): nothing was committed, so retrying loses nothing.
Each stage's errors subclass these (keeping the builtin base they had, e.g. ``ValueError`` for bad
input), as httpx's exception tree does.
"""

from __future__ import annotations


class SinoscopeError(Exception):
    """Raised on purpose by Sinoscope, with a message that says what to do."""


class RetryableError(SinoscopeError):
    """The same call may succeed later; nothing of it was committed."""
