"""Drives Flotilla's MCP endpoint with the official Python SDK (PyPI `mcp`, pinned in
requirements.txt) over Streamable HTTP: connect, list tools, create a project, deploy inline
files (text + base64), check they are served over HTTP, deploy again, roll back, check the first
version is served again, error cases, then terminate the session and check the server forgets it.

Reads FLOTILLA_URL and FLOTILLA_TOKEN from the environment. Prints one JSON summary line on
stdout and exits 0 on success; any failed check raises and exits non-zero (traceback on stderr).
"""

import asyncio
import base64
import json
import os
import sys
import uuid

import httpx2
from mcp import ClientSession, MCPError
from mcp.client.streamable_http import create_mcp_http_client, streamable_http_client

EXPECTED_TOOLS = {
    "list_projects", "create_project", "get_project", "delete_project", "deploy", "get_deployment",
    "list_deployments", "get_deployment_logs", "rollback", "promote", "set_alias",
    "add_domain", "list_domains", "verify_domain",
    "list_kv_namespaces", "create_kv_namespace", "delete_kv_namespace",
}
# The 8-byte PNG signature followed by arbitrary bytes, including ones that are not valid UTF-8.
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def structured(result, tool):
    """Asserts a successful tool result whose structuredContent is mirrored as a JSON text block."""
    texts = [c.text for c in result.content if getattr(c, "type", None) == "text"]
    check(not result.is_error, f"{tool}: isError: {texts}")
    check(isinstance(result.structured_content, dict), f"{tool}: no structuredContent")
    check(any(_json_or_none(t) == result.structured_content for t in texts),
          f"{tool}: no text block mirrors structuredContent: {texts}")
    return result.structured_content


def _json_or_none(text):
    try:
        return json.loads(text)
    except ValueError:
        return None


async def main():
    base = os.environ["FLOTILLA_URL"].rstrip("/")
    token = os.environ["FLOTILLA_TOKEN"]
    url = f"{base}/mcp"
    auth = {"Authorization": f"Bearer {token}"}
    seen = {"session_ids": set(), "delete_statuses": []}

    async def on_response(response):
        sid = response.headers.get("mcp-session-id")
        if sid:
            seen["session_ids"].add(sid)
        if response.request.method == "DELETE":
            seen["delete_statuses"].append(response.status_code)

    summary = {}
    http = create_mcp_http_client(headers=auth)
    http.event_hooks["response"].append(on_response)
    async with http, httpx2.AsyncClient(timeout=30) as plain:

        async def served(slug, path):
            r = await plain.get(f"{base}/__project/{slug}{path}")
            return r.status_code, r.content

        async with streamable_http_client(url, http_client=http, terminate_on_close=True) as (read, write):
            async with ClientSession(read, write) as session:
                init = await session.initialize()
                summary["protocolVersion"] = init.protocol_version
                summary["serverName"] = init.server_info.name
                check(init.capabilities.tools is not None, "server does not advertise tools")
                check(len(seen["session_ids"]) == 1, f"expected one Mcp-Session-Id, saw {seen['session_ids']}")
                summary["sessionId"] = next(iter(seen["session_ids"]))

                await session.send_ping()

                tools = (await session.list_tools()).tools
                names = {t.name for t in tools}
                summary["tools"] = sorted(names)
                check(EXPECTED_TOOLS <= names, f"missing tools: {EXPECTED_TOOLS - names}")
                for t in tools:
                    if t.name in EXPECTED_TOOLS:
                        check(t.input_schema.get("additionalProperties") is False, f"{t.name}: additionalProperties")
                        check(isinstance(t.output_schema, dict), f"{t.name}: outputSchema")
                        check(t.annotations is not None, f"{t.name}: annotations")

                name = f"py-mcp-{uuid.uuid4().hex[:8]}"
                project = structured(await session.call_tool("create_project", {"name": name}), "create_project")["project"]
                check(project["name"] == name, f"create_project name: {project}")
                slug = project["slug"]
                summary["project"] = {"id": project["id"], "slug": slug}

                got = structured(await session.call_tool("get_project", {"project": slug}), "get_project")["project"]
                check(got["id"] == project["id"], f"get_project by slug: {got}")

                files_v1 = {
                    "/index.html": {"text": "<h1>python v1</h1>"},
                    "/logo.png": {"base64": base64.b64encode(PNG).decode()},
                }
                d1 = structured(await session.call_tool("deploy", {"project": project["id"], "files": files_v1}), "deploy")
                check(d1["status"] == "completed", f"deploy v1 status: {d1}")
                dep = structured(await session.call_tool("get_deployment", {"deployment": d1["deploymentId"]}), "get_deployment")
                check(dep["deployment"]["status"] == "completed", f"get_deployment: {dep}")

                status, body = await served(slug, "/")
                check((status, body) == (200, b"<h1>python v1</h1>"), f"v1 served: {status} {body[:200]!r}")
                status, body = await served(slug, "/logo.png")
                check((status, body) == (200, PNG), f"png served: {status} {len(body)} bytes")
                summary["servedV1"] = True

                d2 = structured(await session.call_tool(
                    "deploy", {"project": slug, "files": {"/index.html": {"text": "<h1>python v2</h1>"}}}), "deploy")
                check(d2["status"] == "completed" and d2["deploymentId"] != d1["deploymentId"], f"deploy v2: {d2}")
                status, body = await served(slug, "/")
                check((status, body) == (200, b"<h1>python v2</h1>"), f"v2 served: {status} {body[:200]!r}")

                rb = structured(await session.call_tool("rollback", {"project": slug}), "rollback")
                check(rb["activeDeploymentId"] == d1["deploymentId"], f"rollback: {rb}")
                check(rb["previousDeploymentId"] == d2["deploymentId"], f"rollback previous: {rb}")
                status, body = await served(slug, "/")
                check((status, body) == (200, b"<h1>python v1</h1>"), f"after rollback: {status} {body[:200]!r}")
                summary["deployments"] = [d1["deploymentId"], d2["deploymentId"]]
                summary["rollback"] = {"activeDeploymentId": rb["activeDeploymentId"],
                                       "previousDeploymentId": rb["previousDeploymentId"]}

                missing = await session.call_tool("get_project", {"project": f"no-such-{uuid.uuid4().hex[:8]}"})
                check(missing.is_error is True, f"unknown project not isError: {missing}")
                check(any(getattr(c, "type", None) == "text" and c.text for c in missing.content),
                      "unknown project: no error text")
                summary["unknownProjectIsError"] = True

                try:
                    await session.call_tool("no_such_tool", {})
                    raise AssertionError("unknown tool did not raise")
                except MCPError as e:
                    summary["unknownToolCode"] = e.code
                check(summary["unknownToolCode"] == -32602, f"unknown tool code: {summary['unknownToolCode']}")
        # Leaving streamable_http_client sent DELETE (terminate_on_close=True).

        summary["deleteStatuses"] = seen["delete_statuses"]
        check(len(seen["delete_statuses"]) == 1 and 200 <= seen["delete_statuses"][0] < 300,
              f"DELETE /mcp: {seen['delete_statuses']}")
        r = await plain.post(url, headers={
            **auth, "Mcp-Session-Id": summary["sessionId"], "MCP-Protocol-Version": summary["protocolVersion"],
            "Content-Type": "application/json", "Accept": "application/json, text/event-stream",
        }, json={"jsonrpc": "2.0", "id": 99, "method": "tools/list", "params": {}})
        summary["afterTerminateStatus"] = r.status_code
        check(r.status_code == 404, f"request on a terminated session: {r.status_code} {r.text[:200]}")

    print(json.dumps(summary, sort_keys=True))


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except BaseException as e:  # noqa: BLE001 - report anything (ExceptionGroup from anyio too)
        import traceback
        traceback.print_exception(e)
        sys.exit(1)
