"""What the GUI asks the engine to do, grouped by feature.

These are mixins of :class:`app.bridge.EngineBridge`: each method is a small
coroutine that calls the authorised facade as the signed-in user. Widgets never
call them directly; they pass them to :meth:`EngineBridge.run`.
"""

from __future__ import annotations
