"""moto serving one AWS service at every path (and its ``/moto-api/`` as usual).

``python -m moto.server`` picks the service of an unsigned request from its host name, its body
or its ``Authorization`` header, so an unsigned STS call whose parameters are in the query string
(object_store's ``AssumeRoleWithWebIdentity``) sent to ``https://127.0.0.1:PORT`` reaches moto's
S3. Run as ``python scripts/moto_service.py HOST SERVICE [CERT KEY]``; it prints werkzeug's
"Running on" line with the port the OS chose.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple


def main(argv: list[str]) -> None:
    host, service, *tls = argv
    everything = DomainDispatcherApplication(create_backend_app)
    only = create_backend_app(service)  # type: ignore[arg-type]

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        chosen: Any = everything if environ.get("PATH_INFO", "").startswith("/moto-api") else only
        result: Iterable[bytes] = chosen(environ, start_response)
        return result

    run_simple(host, 0, app, threaded=True, ssl_context=(tls[0], tls[1]) if tls else None)


if __name__ == "__main__":
    main(sys.argv[1:])
