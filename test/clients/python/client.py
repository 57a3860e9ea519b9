"""An MCP client built on the Python SDK (PyPI `mcp`, 1.x or 2.x), driven by test/clients.test.ts.

Reads a plan on stdin ({"calls": {tool: arguments}, "resource": uri, "prompt": {"name", "arguments"}}),
lists the tools, calls every listed tool with its plan arguments, reads the resource, gets the
prompt, and prints what the SDK handed back as one JSON object. A connection the server refuses is
printed as {"error": {...}} with the HTTP status the client saw, and the exit code is 1.

    client.py http URL [--mode auto|legacy]    streamable HTTP; the bearer token, if any, in MCP_TOKEN
    client.py stdio COMMAND [ARG...]           a server process this client starts
"""

import json
import os
import sys
from importlib.metadata import version

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

try:
    import httpx2 as httpx  # the 2.x SDK's HTTP client, a fork of httpx
except ImportError:
    import httpx

SDK = version("mcp")
MODERN_SDK = int(SDK.split(".")[0]) >= 2


def wire(model):
    """A result as the SDK parsed it, back in the protocol's own field names."""
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


async def exercise(session, plan):
    listed = wire(await session.list_tools())["tools"]
    calls = {}
    for tool in listed:
        try:
            result = wire(await session.call_tool(tool["name"], plan["calls"].get(tool["name"], {})))
        except Exception as error:  # noqa: BLE001 - e.g. the SDK refusing an answer off the tool's outputSchema
            calls[tool["name"]] = {"error": describe(error)}
            continue
        calls[tool["name"]] = {"isError": result.get("isError", False), "structuredContent": result.get("structuredContent")}
    resource = wire(await session.read_resource(plan["resource"]))["contents"]
    prompt = wire(await session.get_prompt(plan["prompt"]["name"], plan["prompt"]["arguments"]))
    return {"tools": [tool["name"] for tool in listed], "calls": calls, "resource": resource, "prompt": prompt["messages"]}


async def run_legacy(streams, plan):
    """The 2025-era initialize handshake, the only one 1.x speaks."""
    async with ClientSession(streams[0], streams[1]) as session:
        initialized = await session.initialize()
        report = {"protocolVersion": wire(initialized)["protocolVersion"]}
        return report | await exercise(session, plan)


async def run_client(transport, plan, mode):
    """2.x's high-level client: 'auto' tries 2026-07-28's server/discover and falls back to initialize."""
    from mcp import Client

    async with Client(transport, mode=mode) as client:
        return {"protocolVersion": client.protocol_version} | await exercise(client, plan)


async def over_http(url, mode, plan):
    token = os.environ.get("MCP_TOKEN")
    refusals = []

    async def remember_refusal(response):
        # The SDKs turn a refused POST into a generic error (2.x: -32603 "Server returned an error
        # response"): the status and the server's own words are only on the HTTP response.
        if response.status_code >= 400:
            await response.aread()
            refusals.append(response)

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    # The SDKs' own defaults: a server may hold a response stream open for a while.
    timeout = httpx.Timeout(30, read=300)
    async with httpx.AsyncClient(headers=headers, timeout=timeout, event_hooks={"response": [remember_refusal]}) as http:
        try:
            if MODERN_SDK:
                return await run_client(streamable_http_client(url, http_client=http), plan, mode)
            if mode != "legacy":
                raise SystemExit(f"mcp {SDK} speaks only the 2025-era handshake: use --mode legacy")
            async with streamable_http_client(url, http_client=http) as streams:
                return await run_legacy(streams, plan)
        except Exception as error:  # noqa: BLE001 - the report says what went wrong, whatever it was
            if not refusals:
                raise
            response = refusals[0]
            try:
                body = response.json()
            except ValueError:
                body = response.text
            return {"error": {"status": response.status_code, "wwwAuthenticate": response.headers.get("www-authenticate"), "body": body, "message": describe(error)}}


async def over_stdio(command, plan):
    params = StdioServerParameters(command=command[0], args=command[1:])
    if MODERN_SDK:
        return await run_client(params, plan, "auto")
    async with stdio_client(params) as streams:
        return await run_legacy(streams, plan)


def describe(error):
    """The first line of the innermost error, which the SDK may have wrapped in exception groups."""
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"


def main(argv):
    plan = json.load(sys.stdin)
    if argv[:1] == ["http"] and len(argv) in (2, 4):
        mode = argv[3] if len(argv) == 4 and argv[2] == "--mode" else "auto"
        report = anyio.run(over_http, argv[1], mode, plan)
    elif argv[:1] == ["stdio"] and len(argv) >= 2:
        report = anyio.run(over_stdio, argv[1:], plan)
    else:
        raise SystemExit(__doc__)
    print(json.dumps({"client": f"python mcp {SDK}"} | report))
    return 1 if "error" in report else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
