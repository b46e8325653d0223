"""Microsoft Graph for the engine: models, errors and their sentences, the transport with
its call slots and retries, and the client's endpoints. Re-exports the names used outside."""

from plugin.graph.client import MAX_PAGES, GraphClient
from plugin.graph.errors import ACCESS_DENIED, BAD_REQUEST, NOT_FOUND, GraphBusyError, GraphError
from plugin.graph.models import GraphApplication, GraphDirectoryRole
from plugin.graph.transport import DEFAULT_DEADLINE, DEFAULT_MAX_RETRY_AFTER, tls_context

__all__ = [
    "ACCESS_DENIED",
    "BAD_REQUEST",
    "DEFAULT_DEADLINE",
    "DEFAULT_MAX_RETRY_AFTER",
    "MAX_PAGES",
    "NOT_FOUND",
    "GraphApplication",
    "GraphBusyError",
    "GraphClient",
    "GraphDirectoryRole",
    "GraphError",
    "tls_context",
]
