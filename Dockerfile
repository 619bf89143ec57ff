# async-ingest as a container: lands every regular file of the volume at /data.
# More in docs/docker.md.
#
#   docker build -t async-ingest .
#   docker run --rm -v "$PWD/data:/data:ro" -e ASYNC_INGEST_BUCKET=my-lake \
#     -e AWS_ACCESS_KEY_ID -e AWS_SECRET_ACCESS_KEY -e AWS_REGION async-ingest
#
# Every stage starts from BASE_IMAGE, so the image also builds from a local
# Python image: docker build --build-arg BASE_IMAGE=local/python:3.11-bookworm .
# The builder and the final stage must share it: the venv links to its python.
ARG BASE_IMAGE=python:3.12-slim

# --- builder: a venv with the locked dependencies and the project's wheel ----
FROM ${BASE_IMAGE} AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INPUT=1 \
    PIP_ROOT_USER_ACTION=ignore

WORKDIR /src

# Dependencies first, so this layer is rebuilt only when the lock changes.
# Only wheels (no compiler needed), only the locked versions, hashes checked.
COPY requirements.lock ./
RUN python3 -m venv /opt/venv \
    && /opt/venv/bin/python -m pip install --no-cache-dir --no-deps --only-binary=:all: \
        --require-hashes -r requirements.lock

# The project itself: build its wheel, install it without touching the dependencies,
# check the set is consistent, then drop pip and setuptools (not needed at run time).
# glibc reads TZ=Area/City from TZDIR: point it at the tzdata wheel's zone files,
# so that -e TZ=... works on slim bases that ship no /usr/share/zoneinfo.
COPY pyproject.toml README.md ./
COPY async_ingest ./async_ingest
RUN /opt/venv/bin/python -m pip wheel --no-cache-dir --no-deps --wheel-dir /tmp/dist . \
    && /opt/venv/bin/python -m pip install --no-cache-dir --no-deps --no-index /tmp/dist/async_ingest-*.whl \
    && /opt/venv/bin/python -m pip check \
    && /opt/venv/bin/python -m pip uninstall --yes pip setuptools \
    && ln -s "$(/opt/venv/bin/python -c 'import pathlib, tzdata; print(pathlib.Path(tzdata.__file__).parent / "zoneinfo")')" \
        /opt/venv/zoneinfo \
    && /opt/venv/bin/async-ingest --version

# --- final: the base image, the venv, a non-root user -------------------------
FROM ${BASE_IMAGE}

ARG APP_USER=ingest
ARG APP_UID=10001

# HOME is set explicitly so that ~/.aws resolves to /home/ingest/.aws even when
# the container runs as another uid (docker run --user "$(id -u):$(id -g)").
ENV PATH=/opt/venv/bin:$PATH \
    HOME=/home/${APP_USER} \
    TZDIR=/opt/venv/zoneinfo \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

RUN groupadd --gid "${APP_UID}" "${APP_USER}" \
    && useradd --uid "${APP_UID}" --gid "${APP_UID}" --create-home --home-dir "/home/${APP_USER}" \
        --shell /usr/sbin/nologin "${APP_USER}" \
    && chmod 0755 "/home/${APP_USER}"

COPY --from=builder /opt/venv /opt/venv
# async-ingest behind a check that says how to mount /data when nothing is mounted there
# (the script is executable in the repository; COPY keeps its mode).
COPY scripts/docker-entrypoint.sh /usr/local/bin/async-ingest-entrypoint

USER ${APP_UID}:${APP_UID}
WORKDIR /home/${APP_USER}

# No bucket, endpoint or credentials here: they come from the environment at
# run time (ASYNC_INGEST_BUCKET, AWS_*, or a read-only ~/.aws mount).
ENTRYPOINT ["async-ingest-entrypoint"]
CMD ["/data"]
