"""Quick start: asyncio. An ASGI app (Starlette; a FastAPI route is written the same way) whose
endpoint deletes a spammer's messages through ``timrest.AsyncClient``: the event loop keeps serving
other requests while the deletion waits on Tencent.

    pip install . starlette uvicorn    # in a clone of timrest (not on PyPI yet), or a wheel from scripts/package.sh
    export TIM_SDKAPPID=1400000000 TIM_SECRET_KEY=...    # and TIM_BASE_URL for the emulator
    uvicorn asgi_app:app --port 8000
    curl -X POST localhost:8000/spam/delete -d '{"group_id": "@TGS#2C5SZEAEF", "sender": "spammer"}'
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import timrest


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    # One client for the whole app, closed (waiting for calls in flight) at shutdown.
    async with timrest.AsyncClient.from_env() as client:
        app.state.tim = client
        yield


async def delete_spam(request: Request) -> JSONResponse:
    body = await request.json()
    client: timrest.AsyncClient = request.app.state.tim
    try:
        info = await client.delete_by_sender(body["group_id"], body["sender"], body.get("topic_id"))
    except timrest.GroupNotFoundError:
        return JSONResponse({"error": "no such group"}, status_code=404)
    except timrest.InvalidArgumentError as e:
        return JSONResponse({"error": str(e)}, status_code=400)
    except timrest.TimError as e:
        # `random` identifies the request for Tencent support.
        return JSONResponse({"error": type(e).__name__, "random": e.random}, status_code=502)
    return JSONResponse({"deleted": True, "random": info.random, "attempts": info.attempts})


app = Starlette(routes=[Route("/spam/delete", delete_spam, methods=["POST"])], lifespan=lifespan)
