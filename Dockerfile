# kern's image for Kubernetes (deploy/kuberay/): the Ray head and workers and `kern serve` all run it, so
# Ray, Python and kern are the same in every pod. Everything Python comes from uv.lock.
#   docker build -t kern:0.1.0 .
FROM python:3.11-slim

# bash and wget: KubeRay runs `ray start` through bash and probes Ray's health endpoints with wget.
RUN apt-get update \
    && apt-get install -y --no-install-recommends bash wget \
    && rm -rf /var/lib/apt/lists/*

# The uv of the Makefile.
RUN pip install --no-cache-dir --disable-pip-version-check uv==0.13.9

ENV UV_PROJECT_ENVIRONMENT=/opt/kern/.venv \
    UV_PYTHON_DOWNLOADS=never \
    UV_NO_CACHE=1 \
    UV_COMPILE_BYTECODE=1 \
    PATH=/opt/kern/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1
# Login shells (KubeRay starts Ray through one) reset PATH from /etc/profile, then read profile.d.
RUN echo 'export PATH=/opt/kern/.venv/bin:$PATH' >/etc/profile.d/kern.sh
WORKDIR /opt/kern

# Dependencies first (a layer that changes only with uv.lock), then kern itself.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project --python /usr/local/bin/python3.11
COPY kern ./kern
COPY actors ./actors
COPY examples ./examples
RUN uv sync --frozen --no-dev --no-editable --python /usr/local/bin/python3.11

# Ray's own images run as uid 1000 too; Ray writes its session files under /tmp/ray.
RUN useradd --create-home --uid 1000 ray
USER ray
CMD ["kern", "serve", "--host", "0.0.0.0", "--port", "7777"]
