# driftwarden: one image for both services.
#
#   docker build -t driftwarden .
#   docker run -v ./driftwarden.yaml:/etc/driftwarden/driftwarden.yaml:ro driftwarden \
#       monitor --config /etc/driftwarden/driftwarden.yaml
#   docker run -e DRIFTWARDEN_HEALTH_PORT=9109 ... driftwarden \
#       retrain worker --config /etc/driftwarden/driftwarden.yaml
#
# The entrypoint is `driftwarden`, so the arguments are a driftwarden command line.
# Point the config's state.dir at /var/lib/driftwarden/state and its registry at
# /var/lib/driftwarden/registry (both volumes). The HEALTHCHECK asks /healthz on
# 127.0.0.1:$DRIFTWARDEN_HEALTH_PORT: 9108 (the monitor's http.port) by default; set it to the
# worker's worker.http.port (9109) for `retrain worker`, or to whatever port the config uses.
#
# tests/deploy/test_container.py replays the two `pip` RUN steps below in a fresh virtualenv and
# runs the HEALTHCHECK command against a live monitor: keep them plain shell.

ARG PYTHON_IMAGE=python:3.11-slim

# --- builder: the driftwarden wheel (dependencies are resolved in the runtime stage) ---
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml ./
COPY monitor/ monitor/
COPY retrain/ retrain/
COPY driftwarden/ driftwarden/
RUN pip wheel --no-deps --wheel-dir /wheels .

# --- runtime: a virtualenv with the wheel and its dependencies, run as a non-root user ---
FROM ${PYTHON_IMAGE} AS runtime
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/driftwarden \
    PATH=/opt/driftwarden/bin:$PATH \
    DRIFTWARDEN_HEALTH_PORT=9108

RUN groupadd --system --gid 10001 driftwarden \
    && useradd --system --uid 10001 --gid driftwarden --home-dir /var/lib/driftwarden \
        --no-create-home --shell /usr/sbin/nologin driftwarden \
    && mkdir -p /var/lib/driftwarden/state /var/lib/driftwarden/registry /etc/driftwarden \
    && chown -R driftwarden:driftwarden /var/lib/driftwarden

COPY --from=builder /wheels /wheels
RUN python -m venv /opt/driftwarden \
    && /opt/driftwarden/bin/pip install /wheels/driftwarden-*.whl

USER 10001:10001
WORKDIR /var/lib/driftwarden
VOLUME ["/var/lib/driftwarden/state", "/var/lib/driftwarden/registry"]
EXPOSE 9108 9109

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('DRIFTWARDEN_HEALTH_PORT', '9108') + '/healthz', timeout=4)"]

ENTRYPOINT ["driftwarden"]
CMD ["--help"]
