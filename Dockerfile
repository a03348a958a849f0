# Custom container for Inference Endpoints: sam3_core.cli.serve (the toolkit's HTTP contract, telling client errors
# from server faults) on port 8080, health route /health. Endpoints mounts the model repository at /repository:
# weights uploaded there (deploy.py --with-weights) are used, else SAM3_MODEL_ID (deploy.py sets facebook/sam3
# and the HF_TOKEN secret). The server exits non-zero when the model cannot be loaded.
# tests/integration/test_container.py runs this CMD against a /repository-shaped folder in an environment installed
# under the same constraints.txt with the same extra (no Docker engine in CI); keep the install step that one line.
FROM python:3.11-slim

WORKDIR /app
COPY pyproject.toml README.md constraints.txt requirements-runtime.txt handler.py ./
COPY sam3_core ./sam3_core
RUN pip install --no-cache-dir -c constraints.txt .[server]

ENV HF_MODEL_DIR=/repository PORT=8080 PYTHONUNBUFFERED=1
EXPOSE 8080
CMD ["python", "-m", "sam3_core.cli.serve", "--host", "0.0.0.0"]
