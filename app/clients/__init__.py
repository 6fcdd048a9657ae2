"""What the GUI asks the engine to do, one small client per feature.

The bridge holds one of each (``bridge.modules``, ``bridge.patches``,
``bridge.metrics``, ``bridge.swarm``, ``bridge.audit``, ``bridge.admin``,
``bridge.settings``, ``bridge.overview``, ``bridge.demo``). A client is given
only what it needs: the authorised facade and a callable returning the
signed-in user (it raises :class:`~chimera_engine.errors.AuthenticationError`
when nobody is signed in), plus the odd narrow extra. Each method is a small
coroutine that calls the facade as that user; widgets pass them to
:meth:`app.bridge.EngineBridge.run`, they never await them on their own.
"""

from __future__ import annotations

from collections.abc import Callable

from chimera_engine.security.principal import Principal

#: Returns the signed-in user; raises AuthenticationError when nobody is signed in.
CurrentPrincipal = Callable[[], Principal]

__all__ = ["CurrentPrincipal"]
