# The validator's image: `throne` on a slim Python, run as an unprivileged user.
#
#   docker build -t throne .
#   docker compose -f deploy/docker-compose.yml up -d      (docs/deploy.md)
#
# What the program sandbox (ABD, DED) needs from the container, none of it a capability:
# - user namespaces: the sandbox runs each program in namespaces of its own (user, pid, mount,
#   network, uts, ipc), made without privilege. Docker's default seccomp and AppArmor profiles
#   refuse unshare(CLONE_NEWUSER), mount and pivot_root to the container: the validator's
#   service runs with `security_opt: [seccomp=unconfined, apparmor=unconfined]` (and no added
#   capability). The host must allow unprivileged user namespaces
#   (user.max_user_namespaces > 0; on Debian/Ubuntu kernels kernel.unprivileged_userns_clone=1).
# - a writable cgroup v2 subtree for the run-wide memory and CPU caps (`cgroup: private` in
#   compose, the container's own cgroup namespace); without one the sandbox samples /proc,
#   as `throne check` reports.
# No --privileged, no CAP_SYS_ADMIN: `throne check` shows which guarantees the sandbox holds.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates tini \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --create-home --home-dir /var/lib/throne throne

WORKDIR /opt/throne
COPY pyproject.toml README.md ./
COPY throne ./throne
COPY deploy/entrypoint.sh /usr/local/bin/throne-entrypoint
RUN python -m pip install . && chmod 755 /usr/local/bin/throne-entrypoint

USER throne
ENV HOME=/var/lib/throne XDG_DATA_HOME=/var/lib/throne/data
VOLUME ["/var/lib/throne"]
EXPOSE 9100
ENTRYPOINT ["tini", "--", "throne-entrypoint"]
CMD ["run", "--config", "/etc/throne/throne.toml"]
