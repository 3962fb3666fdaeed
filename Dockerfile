# borgui: Django admin + django-q2 worker around BorgBackup.
# Pinned to bookworm: the tests run Debian 12's borg 1.2, and so does the image.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    BORGUI_DATA_DIR=/data \
    BORGUI_RESTORE_ROOTS=/restore \
    BORGUI_RUN_AS=borgui \
    PORT=8000

# sshfs and fuse3 (its setuid fusermount3) mount the sources of plans whose sources are on
# a source host (docs/remote-sources.md); they need /dev/fuse and SYS_ADMIN (compose.yaml).
RUN apt-get update \
    && apt-get install -y --no-install-recommends borgbackup openssh-client sudo tini sshfs fuse3 \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system borgui \
    && useradd --system --gid borgui --home-dir /data --shell /usr/sbin/nologin borgui \
    && mkdir -p /data /local/db-dumps /restore \
    && chown borgui:borgui /data /local/db-dumps /restore

WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
# PYTHONDONTWRITEBYTECODE keeps processes from writing into /app; the bytecode is compiled
# here instead (root-owned, world-readable), so no command recompiles the app at start.
RUN python -m compileall -q -j 0 /app
# The app user may run exactly borgui's `apt-get update` and `apt-get install … -- NAME`
# (Settings > System > Packages) as root, nothing else: see packages_admin/sudoers.py.
RUN python -m packages_admin.sudoers borgui > /etc/sudoers.d/borgui-apt \
    && chmod 0440 /etc/sudoers.d/borgui-apt \
    && visudo -cf /etc/sudoers.d/borgui-apt
# Settings refuse to load without keys; these throwaway ones exist only for this build step.
RUN SECRET_KEY=collectstatic-only \
    BORGUI_ENCRYPTION_KEY=$(python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())') \
    python manage.py collectstatic --noinput -v0

VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '8000') + '/healthz', timeout=4)" || exit 1

# Starts as root only to give the app user the Docker socket's group, then drops to it.
ENTRYPOINT ["/usr/bin/tini", "--", "/app/docker/entrypoint.sh"]
CMD ["all"]
