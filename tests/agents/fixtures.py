#!/usr/bin/env python3
"""Turns recorded agent sessions into conformance fixtures.

usage: fixtures.py RECORDINGS_DIR FIXTURES_DIR

RECORDINGS_DIR holds one directory per sequence (claude-code, claude-code-gateway-model,
codex, codex-default-tools, gemini-cli), each with the client.jsonl that recproxy.py
wrote between the agent and ax. Every POST to a model endpoint becomes one fixture file
FIXTURES_DIR/<agent>/<sequence>-<n>.json holding the request as the agent sent it: method,
path, headers and body. Trimmed: transport headers (host, content-length, connection,
accept-encoding), the API key (replaced by a fixed dummy), and what names this machine
(working directory, home, OS build, device and session ids). Everything else, system
prompts and tool definitions above all, stays as recorded.
"""
import json
import os
import re
import sys

SRC, DST = sys.argv[1], sys.argv[2]

# sequence dir -> (agent dir, file prefix)
SEQUENCES = {
    "claude-code": ("claude-code", "tool-turn"),
    "claude-code-gateway-model": ("claude-code", "gateway-model"),
    "codex": ("codex", "tool-turn"),
    "codex-default-tools": ("codex", "default-tools"),
    "gemini-cli": ("gemini-cli", "tool-turn"),
}
DROP_HEADERS = {"host", "content-length", "connection", "accept-encoding"}
KEY_HEADERS = {"x-api-key": "sk-ax-test", "authorization": "Bearer sk-ax-test",
               "x-goog-api-key": "sk-ax-test"}
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
HEX64 = re.compile(r"\b[0-9a-f]{64}\b")


def sanitize(text, work, home, uuids):
    text = text.replace(home, "/home/dev")
    text = text.replace(work, "/home/dev/project")
    # Claude Code's per-project directory: the path with every other character a dash.
    text = text.replace(re.sub(r"[^A-Za-z0-9]", "-", work), "-home-dev-project")
    text = text.replace(".gemini/tmp/" + os.path.basename(work), ".gemini/tmp/project")
    text = re.sub(r"(/[A-Za-z0-9_.-]+)+/node_modules/", "/usr/lib/node_modules/", text)
    text = re.sub(r"Linux \d+\.\d+\.\d+[-A-Za-z0-9.]*", "Linux 6.8.0", text)

    def uuid_sub(m):
        u = m.group(0)
        if u not in uuids:
            n = len(uuids) + 1
            uuids[u] = f"00000000-0000-7000-8000-{n:012d}"
        return uuids[u]

    text = UUID.sub(uuid_sub, text)
    return HEX64.sub("0" * 64, text)


def main():
    work = os.environ.get("AGENT_WORKDIR", "/tmp/agents/work")
    homes = os.environ.get("AGENT_HOMES", "/tmp/agents/homes")
    for seq, (agent, prefix) in SEQUENCES.items():
        path = os.path.join(SRC, seq, "client.jsonl")
        if not os.path.exists(path):
            print(f"skip {seq}: no {path}")
            continue
        home = os.path.join(homes, agent.split("-")[0])
        uuids = {}
        n = 0
        os.makedirs(os.path.join(DST, agent), exist_ok=True)
        for line in open(path):
            rec = json.loads(line)
            if rec["method"] != "POST" or not isinstance(rec.get("body"), dict):
                continue
            n += 1
            headers = {}
            for k, v in rec["headers"].items():
                if k in DROP_HEADERS:
                    continue
                headers[k] = KEY_HEADERS.get(k, v)
            fixture = {"method": "POST", "path": rec["path"], "headers": headers,
                       "body": rec["body"]}
            text = json.dumps(fixture, indent=1, ensure_ascii=False)
            text = sanitize(text, work, home, uuids)
            json.loads(text)  # still JSON
            out = os.path.join(DST, agent, f"{prefix}-{n}.json")
            with open(out, "w") as f:
                f.write(text + "\n")
            print(f"wrote {out} ({len(text)} bytes)")


main()
