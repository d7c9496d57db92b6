"""A loopback OpenAI-compatible server that answers every request after a fixed delay.

It measures the client, not a model: asyncio with one coroutine per connection, so it serves
thousands of requests per second on one core. Run: python benchmarks/delay_server.py PORT DELAY_S
"""

from __future__ import annotations

import asyncio
import json
import sys

ANSWER = " A method that works.\nTopic: ml-methods\nContribution: method"


def _body(chat: bool) -> bytes:
    usage = {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110}
    if chat:
        choice = {"index": 0, "message": {"role": "assistant", "content": ANSWER}, "finish_reason": "stop"}
        obj = "chat.completion"
    else:
        choice = {"index": 0, "text": ANSWER, "finish_reason": "stop", "logprobs": None}
        obj = "text_completion"
    doc = {"id": "x", "object": obj, "created": 0, "model": "bench", "choices": [choice], "usage": usage}
    body = json.dumps(doc).encode()
    head = f"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
    return head.encode() + body


RESPONSES = {False: _body(False), True: _body(True)}


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            if length:
                await reader.readexactly(length)
            await asyncio.sleep(delay)
            writer.write(RESPONSES[b"/chat/" in head.split(b"\r\n", 1)[0]])
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main(port: int, delay: float) -> None:
    server = await asyncio.start_server(lambda r, w: _serve(r, w, delay), "127.0.0.1", port, backlog=1024)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), float(sys.argv[2])))
