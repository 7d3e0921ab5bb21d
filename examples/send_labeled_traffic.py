#!/usr/bin/python3
"""Sends live traffic to a Quiver model and reports the truth for every answer, the
way an application with user feedback would: iris rows from examples/data/iris.csv,
each request with an id, and the label posted to /v1/feedback in batches.

Usage: examples/send_labeled_traffic.py [--server URL] [--model iris] [--seconds 60]
Uses only Debian's python3 and python3-requests.
"""
import argparse
import csv
import itertools
import os
import time
from collections import Counter

import requests

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default=os.environ.get("QUIVER_SERVER", "http://127.0.0.1:8000"))
    parser.add_argument("--model", default="iris")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--data", default=os.path.join(HERE, "data", "iris.csv"))
    args = parser.parse_args()

    with open(args.data) as f:
        rows = [([float(v) for v in r[:4]], int(r[4])) for r in list(csv.reader(f))[1:] if r]
    session = requests.Session()
    served, feedback, pending = Counter(), Counter(), []
    deadline = time.time() + args.seconds
    for i, (features, label) in enumerate(itertools.cycle(rows)):
        if time.time() > deadline:
            break
        rid = f"demo-{int(deadline)}-{i}"
        body = {"id": rid, "inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": features}]}
        r = session.post(f"{args.server}/v2/models/{args.model}/infer", json=body, timeout=10)
        served[r.headers.get("x-quiver-model-version", f"HTTP {r.status_code}")] += 1
        pending.append({"id": rid, "truth": label})
        if len(pending) >= 50:
            answer = session.post(f"{args.server}/v1/feedback", json={"model": args.model, "items": pending}, timeout=10)
            for key in ("joined", "unknown", "expired"):
                feedback[key] += answer.json().get(key, 0)
            pending = []
    print("answered by version:", dict(served))
    print("feedback:", dict(feedback))


if __name__ == "__main__":
    main()
