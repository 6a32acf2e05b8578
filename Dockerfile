# The orchestrator. The bridge has its own image (bridge-node/Dockerfile); see compose.yaml.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY orchestrator ./orchestrator
RUN pip install --no-cache-dir . \
    && useradd --uid 10001 --no-create-home app \
    && install -d -o app -m 700 /data
ENV ORCH_HOST=0.0.0.0 ORCH_DATA_DIR=/data
USER app
EXPOSE 8080
CMD ["orchestrator"]
