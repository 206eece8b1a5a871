"""``POST /api/v1/admin/reload``: read the configuration file again and apply
what can change live (``esl_connector/reload.py``), as SIGHUP does.

Authenticated as the status API (``status.authorize``). Answers 200 with what
changed and what needs a restart; 422 ``invalid_configuration`` with every
problem when the file is refused (the settings in force stay); 503
``reload_unavailable`` when the connector was not started from a file.
"""

from __future__ import annotations

import gevent

from .context import RELOADER_KEY
from .server import ApiError, Route, json_response
from .status import authorize

__all__ = ["RELOADER_KEY", "routes"]
RELOAD_TIMEOUT = 60.0


def post_reload(request, ctx):
    authorize(request, ctx)
    reloader = ctx.extras.get(RELOADER_KEY)
    if reloader is None:
        raise ApiError(503, "reload_unavailable", "this connector was not started from a "
                                                  "configuration file: nothing to reload")
    job = gevent.spawn(reloader.reload)  # never interrupted halfway, even if this request is
    job.join(RELOAD_TIMEOUT)
    if not job.successful():
        raise ApiError(503, "reload_unfinished", "the reload did not finish in time or failed; "
                                                 "see the connector's log")
    result = job.value
    if not result.applied:
        return json_response({**result.as_dict(), "code": "invalid_configuration",
                              "message": f"the configuration was refused ({len(result.problems)} problems); "
                                         "the settings in force stay"}, 422)
    return result.as_dict()


def routes() -> list[Route]:
    return [Route("/api/v1/admin/reload", post_reload, ("POST",))]
