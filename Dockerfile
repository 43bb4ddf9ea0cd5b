# lingting worker image. Build from the repo root:  docker build -t lingting:0.1.0 .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY pipeline ./pipeline
COPY connectors ./connectors
COPY processors ./processors
COPY schemas ./schemas
COPY sinks ./sinks
RUN pip install . && rm -rf /src

# Faust keeps its table state under worker.data_dir (relative paths resolve here).
RUN useradd --system --uid 10001 --home-dir /var/lib/lingting --create-home lingting
USER lingting
WORKDIR /var/lib/lingting
RUN mkdir -p /var/lib/lingting/worker

# Worker web/metrics port (worker.web_port).
EXPOSE 6066
CMD ["lingting", "worker"]
