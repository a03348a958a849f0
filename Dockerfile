# Custom-container fallback for Inference Endpoints: runs scripts/serve.py (the toolkit's HTTP contract) on port
# 8080, health route /health. Use it when the endpoint's default toolkit image cannot start with transformers 5
# (it imports transformers.file_utils.is_tf_available, removed in transformers 5). See README "Deploying".
FROM pytorch/pytorch:2.9.1-cuda12.8-cudnn9-runtime

WORKDIR /app
COPY requirements.txt requirements-server.txt ./
RUN pip install --no-cache-dir -r requirements-server.txt
COPY handler.py ./
COPY sam3_core ./sam3_core
COPY scripts/serve.py scripts/make_tiny_checkpoint.py ./scripts/

# Weights: SAM3_MODEL_ID (Hub id, with the HF_TOKEN secret) or a checkpoint mounted at /repository.
ENV SAM3_MODEL_ID=facebook/sam3 PORT=8080 PYTHONUNBUFFERED=1
EXPOSE 8080
CMD ["python", "scripts/serve.py", "--host", "0.0.0.0", "--port", "8080"]
