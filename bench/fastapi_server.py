#!/usr/bin/python3
"""The baseline Quiver is compared with: a hand-written FastAPI + uvicorn + PyTorch
server for one TorchScript model, as users commonly write it: the body read with
`await request.json()` (no pydantic request models, which would make it several times
slower than what users write and so flatter Quiver).

POST /v2/models/{name}/infer takes the same Open Inference Protocol JSON body
({"inputs": [{"name", "shape", "datatype", "data"}]}) and answers in the same JSON
shape. One uvicorn worker, torch.no_grad(), and one intra-op thread (Quiver's
default), so both servers get the same compute. uvicorn runs on uvloop with the
httptools parser, what `pip install "uvicorn[standard]"` (FastAPI's own advice) gives
its users; asyncio's loop with the pure-Python h11 parser served a third as much here.
Named explicitly, so that a machine without them fails instead of measuring less.

Usage: fastapi_server.py --model PATH [--name iris] [--host 127.0.0.1] [--port 0]
Prints "fastapi listening http=HOST:PORT" once the port listens.
"""

import argparse
import socket
import sys

import torch
import uvicorn
from fastapi import FastAPI, HTTPException, Request


def build_app(model_path, model_name, output_name):
    model = torch.jit.load(model_path)
    model.eval()
    app = FastAPI()

    @app.get("/v2/models/{name}/ready")
    def ready(name: str):
        return {"name": name, "ready": name == model_name}

    @app.post("/v2/models/{name}/infer")
    async def infer(name: str, request: Request):
        if name != model_name:
            raise HTTPException(status_code=404, detail=f"unknown model '{name}'")
        body = await request.json()
        inputs = body.get("inputs") or []
        if len(inputs) != 1 or inputs[0].get("datatype") != "FP32":
            raise HTTPException(status_code=400, detail="expected one FP32 input")
        given = inputs[0]
        x = torch.tensor(given["data"], dtype=torch.float32).reshape(given["shape"])
        with torch.no_grad():
            y = model(x)
        answer = {
            "model_name": model_name,
            "model_version": "1",
            "outputs": [{"name": output_name, "shape": list(y.shape), "datatype": "FP32",
                         "data": y.flatten().tolist()}],
        }
        if body.get("id") is not None:
            answer["id"] = body["id"]
        return answer

    return app


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="TorchScript file")
    parser.add_argument("--name", default="iris")
    parser.add_argument("--output-name", default="probabilities")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv[1:])

    torch.set_num_threads(1)
    app = build_app(args.model, args.name, args.output_name)
    # Bind first so that port 0 works and the chosen port can be printed.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    host, port = sock.getsockname()[:2]
    config = uvicorn.Config(app, log_level="warning", access_log=False, workers=1, loop="uvloop", http="httptools")
    server = uvicorn.Server(config)
    sock.listen(1024)  # connections that arrive before uvicorn runs wait in the backlog
    print(f"fastapi listening http={host}:{port}", flush=True)
    server.run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
