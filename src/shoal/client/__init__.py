"""The Python client: one ``Client`` over an embedded Shoal or a remote server.

``Client(settings)`` talks to the stores directly (``embedded.py``); ``Client(url=...,
api_key=...)`` talks to a server's management and V2 APIs over HTTP (``remote.py``). Both
implement the ``Backend`` role (``backend.py``), return the same records and raise the same
domain errors, so code moves between a laptop and a server unchanged.
"""

from __future__ import annotations

from shoal.client.backend import Backend
from shoal.client.client import Client, RefLike

__all__ = ["Backend", "Client", "RefLike"]
