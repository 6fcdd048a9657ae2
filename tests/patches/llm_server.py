"""A small model server for tests, run as its own process on loopback.

``python llm_server.py [--answers FILE] [--n-ctx N] [--delay S]`` prints
``PORT <n>`` once it listens. Behaviour is chosen by the first path segment,
so one process serves every case: ``http://127.0.0.1:<n>/<mode>`` is the
``base_url`` of a server that behaves as ``mode``:

- ``ok``: llama.cpp-like OpenAI-compatible API (``/v1/chat/completions``
  streamed with usage, ``/props`` with ``n_ctx``); answers come from the
  answers file in order (the last repeats), else ``"ok"``;
- ``nousage``: the same without any usage or timings in the stream;
- ``html``: an HTML page for every request (a web server, not an API);
- ``badjson``: an event stream whose data is not JSON;
- ``notchat``: a JSON document that is no chat completion;
- ``e500``: HTTP 500 for every request;
- ``unknownmodel``: HTTP 404 with an OpenAI-style "model does not exist";
- ``small``: ``/props`` says a 2,048-token context; prompts beyond it get
  llama.cpp's HTTP 400 ``exceed_context_size_error``, others are cut at the
  context (``finish_reason: length``);
- ``slow``: waits 30 s before answering;
- ``ollama``: Ollama's ``/api/chat`` (NDJSON) and ``/api/show``.

``GET /<mode>/_last`` returns the last chat request body received.
Routes a real server lacks answer llama.cpp's JSON 404.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from aiohttp import web

LAST: dict[str, Any] = {}


def _pieces(text: str) -> list[str]:
    words = text.split(" ")
    return [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)]


def _chunk(content: str | None = None, finish: str | None = None) -> dict[str, Any]:
    delta: dict[str, Any] = {} if content is None else {"content": content}
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "tiny",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def _not_found() -> web.Response:
    body = {"error": {"code": 404, "message": "File Not Found", "type": "not_found_error"}}
    return web.json_response(body, status=404)


class Server:
    def __init__(self, answers: list[str], n_ctx: int, delay: float) -> None:
        self.answers = answers
        self.n_ctx = n_ctx
        self.delay = delay
        self.used = 0

    def next_answer(self) -> str:
        if not self.answers:
            return "ok"
        answer = self.answers[min(self.used, len(self.answers) - 1)]
        self.used += 1
        return answer

    async def props(self, request: web.Request) -> web.Response:
        mode = request.match_info["mode"]
        if mode in ("html",):
            return web.Response(text="<html><body>Welcome</body></html>", content_type="text/html")
        if mode not in ("ok", "nousage", "small", "slow"):
            return _not_found()
        n_ctx = 2048 if mode == "small" else self.n_ctx
        return web.json_response({"default_generation_settings": {"n_ctx": n_ctx}})

    async def last(self, request: web.Request) -> web.Response:
        return web.json_response(LAST.get(request.match_info["mode"], {}))

    async def chat(self, request: web.Request) -> web.StreamResponse:
        mode = request.match_info["mode"]
        raw = await request.read()
        if mode == "html":
            page = "<!doctype html><html><head><title>Router</title></head><body>Hi</body></html>"
            return web.Response(text=page, content_type="text/html")
        if mode == "ollama":
            return _not_found()
        body = json.loads(raw)
        LAST[mode] = body
        if mode == "e500":
            return web.json_response({"error": {"message": "model crashed"}}, status=500)
        if mode == "unknownmodel":
            message = f"The model `{body.get('model')}` does not exist."
            return web.json_response({"error": {"message": message}}, status=404)
        if mode == "notchat":
            return web.json_response({"status": "ready", "uptime": 12})
        if mode == "slow":
            await asyncio.sleep(30)
        prompt_chars = sum(len(m.get("content", "")) for m in body.get("messages", []))
        prompt_tokens = prompt_chars // 4 + 10
        if mode == "small" and prompt_tokens > 2048:
            error = {
                "code": 400,
                "message": "the request exceeds the available context size, try increasing it",
                "type": "exceed_context_size_error",
                "n_prompt_tokens": prompt_tokens,
                "n_ctx": 2048,
            }
            return web.json_response({"error": error}, status=400)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        if mode == "badjson":
            await response.write(b"data: {this is not json\n\n")
            await response.write_eof()
            return response
        text = self.next_answer()
        pieces = _pieces(text)
        finish = "stop"
        if mode == "small":
            room = max(1, 2048 - prompt_tokens)
            if len(pieces) > room:
                pieces, finish = pieces[:room], "length"
        for piece in pieces:
            event = json.dumps(_chunk(piece))
            await response.write(f"data: {event}\n\n".encode())
            if self.delay:
                await asyncio.sleep(self.delay)
        await response.write(f"data: {json.dumps(_chunk(finish=finish))}\n\n".encode())
        if mode != "nousage":
            usage = {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": len(pieces),
                "total_tokens": prompt_tokens + len(pieces),
            }
            last = {**_chunk(), "choices": [], "usage": usage}
            await response.write(f"data: {json.dumps(last)}\n\n".encode())
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    async def ollama_chat(self, request: web.Request) -> web.StreamResponse:
        mode = request.match_info["mode"]
        if mode == "html":
            return web.Response(text="<html><body>Welcome</body></html>", content_type="text/html")
        if mode != "ollama":
            return _not_found()
        body = await request.json()
        LAST[mode] = body
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        pieces = _pieces(self.next_answer())
        for piece in pieces:
            line = {"model": body["model"], "message": {"role": "assistant", "content": piece}}
            await response.write((json.dumps(line) + "\n").encode())
        end = {
            "model": body["model"],
            "message": {"role": "assistant", "content": ""},
            "done": True,
            "done_reason": "stop",
            "prompt_eval_count": 30,
            "eval_count": len(pieces),
        }
        await response.write((json.dumps(end) + "\n").encode())
        await response.write_eof()
        return response

    async def ollama_show(self, request: web.Request) -> web.Response:
        if request.match_info["mode"] != "ollama":
            return _not_found()
        info = {"general.architecture": "llama", "llama.context_length": 8192}
        return web.json_response({"model_info": info, "parameters": "num_ctx 4096\nstop x"})


async def main(args: argparse.Namespace) -> None:
    answers = json.loads(Path(args.answers).read_text()) if args.answers else []
    server = Server(answers, args.n_ctx, args.delay)
    app = web.Application()
    app.router.add_get("/{mode}/props", server.props)
    app.router.add_get("/{mode}/_last", server.last)
    app.router.add_post("/{mode}/v1/chat/completions", server.chat)
    app.router.add_post("/{mode}/api/chat", server.ollama_chat)
    app.router.add_post("/{mode}/api/show", server.ollama_show)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    print(f"PORT {port}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--answers")
    parser.add_argument("--n-ctx", type=int, default=8192)
    parser.add_argument("--delay", type=float, default=0.0)
    try:
        asyncio.run(main(parser.parse_args()))
    except KeyboardInterrupt:
        sys.exit(0)
