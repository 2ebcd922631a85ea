# driftwarden: one image for both services.
#
#   make image                  # or: python -m scripts.image build (Docker or podman)
#   docker build -t driftwarden:0.1.0 .
#   docker run -v ./driftwarden.yaml:/etc/driftwarden/driftwarden.yaml:ro driftwarden:0.1.0 \
#       monitor --config /etc/driftwarden/driftwarden.yaml
#   docker run -e DRIFTWARDEN_HEALTH_PORT=9109 ... driftwarden:0.1.0 \
#       retrain worker --config /etc/driftwarden/driftwarden.yaml
#
# The entrypoint is `driftwarden`, so the arguments are a driftwarden command line.
# Point the config's state.dir at /var/lib/driftwarden/state and its registry at
# /var/lib/driftwarden/registry (both volumes). The HEALTHCHECK asks /healthz on
# 127.0.0.1:$DRIFTWARDEN_HEALTH_PORT: 9108 (the monitor's http.port) by default; set it to the
# worker's worker.http.port (9109) for `retrain worker`, or to whatever port the config uses.
# `--build-arg DRIFTWARDEN_EXTRAS=demo` adds the demo extra (`driftwarden demo` runs in it).
#
# tests/deploy/test_image.py builds this file as it is and runs the image (podman);
# tests/deploy/test_container.py lints it and checks its contract.

ARG PYTHON_IMAGE=python:3.11-slim

# --- builder: the driftwarden wheel, then a virtualenv with it and its dependencies ---
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml ./
COPY monitor/ monitor/
COPY retrain/ retrain/
COPY driftwarden/ driftwarden/
RUN pip wheel --no-deps --wheel-dir /wheels .

# Extras to install with the wheel, comma-separated (e.g. demo); none by default.
ARG DRIFTWARDEN_EXTRAS=""
# What the services never use is left out of the virtualenv: pip and setuptools (nothing is
# installed at run time), the dependencies' own test suites, C and Cython sources and headers,
# and pyarrow's Flight RPC (driftwarden reads CSV and Parquet files with pyarrow, nothing else).
# The bytecode pip compiles stays: the root file system may be read-only and start-up is faster.
RUN python -m venv /opt/driftwarden \
    && wheel="$(echo /wheels/driftwarden-*.whl)" \
    && /opt/driftwarden/bin/pip install "${wheel}${DRIFTWARDEN_EXTRAS:+[$DRIFTWARDEN_EXTRAS]}" \
    && /opt/driftwarden/bin/pip uninstall --yes pip setuptools \
    && site=/opt/driftwarden/lib/python3.11/site-packages \
    && find "$site" -depth -type d -name tests -exec rm -rf {} + \
    && find "$site" -type f \( -name '*.pyx' -o -name '*.pxd' -o -name '*.pxi' -o -name '*.h' \
        -o -name '*.hpp' -o -name '*.c' -o -name '*.cc' -o -name '*.cpp' \) -delete \
    && rm -rf "$site/pyarrow/include" "$site/pyarrow/src" "$site"/pyarrow/*flight* \
        "$site"/pyarrow/_pyarrow_cpp_tests* /opt/driftwarden/bin/Activate.ps1

# --- runtime: the virtualenv on a clean base, run as a non-root user ---
FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/driftwarden \
    PATH=/opt/driftwarden/bin:$PATH \
    DRIFTWARDEN_HEALTH_PORT=9108

RUN groupadd --system --gid 10001 driftwarden \
    && useradd --system --uid 10001 --gid driftwarden --home-dir /var/lib/driftwarden \
        --no-create-home --shell /usr/sbin/nologin driftwarden \
    && mkdir -p /var/lib/driftwarden/state /var/lib/driftwarden/registry /etc/driftwarden \
    && chown -R driftwarden:driftwarden /var/lib/driftwarden

COPY --from=builder /opt/driftwarden /opt/driftwarden

USER 10001:10001
WORKDIR /var/lib/driftwarden
VOLUME ["/var/lib/driftwarden/state", "/var/lib/driftwarden/registry"]
EXPOSE 9108 9109

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('DRIFTWARDEN_HEALTH_PORT', '9108') + '/healthz', timeout=4)"]

ENTRYPOINT ["driftwarden"]
CMD ["--help"]
