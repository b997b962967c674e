"""Reference server of the Durable Execution Protocol.

Library use::

    from reference_server import Server, ServerThread
    srv = Server(data_dir=tmp, ingress_port=0, admin_port=0)
    await srv.start(); srv.ingress_url; srv.admin_url; await srv.stop()

    with ServerThread(data_dir=tmp) as srv:   # background thread, free ports
        ...
"""

from .config import ServerConfig
from .core.model import RetryPolicy
from .server import Server, ServerThread

__all__ = ["RetryPolicy", "Server", "ServerConfig", "ServerThread"]
