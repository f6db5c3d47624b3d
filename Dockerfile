# The pipeline's image: the locked dependencies (uv.lock) plus the project code.
# Kubeflow/Vertex run every component in it (python -m pipeline compile-kfp --image ...), and the
# Beam portable runners (Dataflow, Flink, Spark) can run their workers in it
# (--sdk_container_image=...), so preprocessing_fn and run_fn import the same code everywhere.
#   docker build -t REGISTRY/tfx-pipeline:TAG . && docker push REGISTRY/tfx-pipeline:TAG

# Base images are pinned by digest where one could be checked (docs/scaling.md lists which);
# the Beam SDK image's digest could not be looked up offline: pin it with
#   docker buildx imagetools inspect apache/beam_python3.10_sdk:2.61.0
ARG PYTHON_IMAGE=python:3.10.13-slim-bookworm@sha256:ef44c53813f71871130462fcd1cf77df9a3a468ed7730b402e1216e21ed8fe4f

FROM ghcr.io/astral-sh/uv:0.13.0@sha256:cdc6093146eb3ff6a40107b38f008b789e050e77ad87865e381d9917da55a168 AS uv
FROM apache/beam_python3.10_sdk:2.61.0 AS beam

FROM ${PYTHON_IMAGE} AS build
# pyfarmhash and crcmod are locked as source distributions: they need a C/C++ compiler.
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy
WORKDIR /pipeline
COPY pyproject.toml uv.lock .python-version ./
# Runtime dependencies and the kubeflow group only: no Airflow, no test tools.
RUN uv sync --frozen --no-default-groups --group kubeflow --python /usr/local/bin/python3.10 \
 && rm -rf /root/.cache/uv

FROM ${PYTHON_IMAGE}
COPY --from=beam /opt/apache/beam /opt/apache/beam
COPY --from=build /opt/venv /opt/venv
# TF 2.16 defaults to Keras 3, which TFX does not support; pipeline/environment.py sets the same.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/pipeline \
    TF_USE_LEGACY_KERAS=1 \
    TF_CPP_MIN_LOG_LEVEL=1
# kubeflow_runner.IMAGE_PROJECT_ROOT: project files in a compiled spec are referenced here.
WORKDIR /pipeline
COPY pipeline pipeline
COPY models models
COPY data data
# Run as an unprivileged user that owns nothing in the image (the code stays read-only to it);
# components write to the pipeline root (a URI) and to /tmp.
RUN useradd --system --uid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin pipeline
USER 10001:10001
ENV HOME=/tmp
# Beam's worker boot program; Kubeflow sets its own command (python -m tfx...) and ignores this.
ENTRYPOINT ["/opt/apache/beam/boot"]
