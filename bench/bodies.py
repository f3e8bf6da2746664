"""Writes the benchmark's ~1 KB chat request (system prompt, two turns): argv[1] gets the
non-streaming body, argv[2] (optional) the same with "stream": true. Shared by run.sh
and callgrind.sh so every figure measures the same request."""
import json
import sys

sys_prompt = ("You are a concise assistant for an online store. Answer in at most three "
              "sentences, cite the order number when there is one, and never invent "
              "prices, delivery dates or stock levels that are not in the conversation. ")
msgs = [
    {"role": "system", "content": sys_prompt * 2},
    {"role": "user", "content": "Hi! I ordered a pair of running shoes last week (order 48213) "
                                "and the tracking page has not changed for four days."},
    {"role": "assistant", "content": "Sorry about that. Order 48213 left our warehouse on "
                                     "Monday; carriers sometimes skip scans between hubs."},
    {"role": "user", "content": "Can you tell me when it will arrive, and whether I can "
                                "still change the size from 42 to 43?"},
]
req = {"model": "gpt-4o-mini", "messages": msgs, "temperature": 0.2, "max_tokens": 256}
with open(sys.argv[1], "w") as f:
    f.write(json.dumps(req))
if len(sys.argv) > 2:
    req["stream"] = True
    with open(sys.argv[2], "w") as f:
        f.write(json.dumps(req))
